"""Webhook delivery against a real HTTP receiver on 127.0.0.1 and a real PostgreSQL: body,
headers and signature, who gets what, retries, restarts, address refusal, and that a
slow receiver never holds up the API."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from api.webhook_payloads import WebhookPayloads
from domain.webhooks import EVENT_NAMES
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import TEST_ORIGIN, Users, wired
from tests.helpers import Auth, Client
from tests.integration.webhook_support import (
    API_URL,
    Receiver,
    change_hook,
    delivery_settings,
    eventually,
    remove_hook,
    save_hook,
    self_signed,
)

SECRET = "hook-secret-1"
MASKED_VALUE = "masked-value-never-sent"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return delivery_settings(settings)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def delivering(marid: Marid) -> Marid:
    """The marid of the test with its webhook dispatcher and senders running."""
    marid.webhook_dispatcher.install(WebhookPayloads(marid))
    return marid


@pytest.fixture
def alice(users: Users) -> tuple[int, Auth]:
    return users.create("alice")


@contextmanager
def running(settings: Settings) -> Iterator[Marid]:
    """Another process's marid on the same database, delivering webhooks."""
    instance = wired(settings)
    try:
        instance.webhook_dispatcher.install(WebhookPayloads(instance))
        instance.start()
        yield instance
    finally:
        instance.close()


def register(marid: Marid, name: str) -> int:
    user_id: int = marid.settle(marid.app.register_user(name, f"{name}@example.com", TEST_ORIGIN))
    return user_id


def namespace(marid: Marid, owner_id: int, name: str, parent: str | None = None) -> int:
    outcome = marid.app.create_namespace(owner_id, name, parent, "", None, TEST_ORIGIN)
    namespace_id: int = marid.settle(outcome)
    return namespace_id


def variable(
    marid: Marid, owner_id: int, key: str, ns: str, value: str = "v", mask: bool = False
) -> int:
    outcome = marid.app.create_variable(owner_id, key, value, mask, ns, TEST_ORIGIN)
    variable_id: int = marid.settle(outcome)
    return variable_id


def all_delivered(marid: Marid, hook_id: int, count: int) -> bool:
    rows = marid.webhook_dispatcher.store.deliveries(hook_id)
    return len(rows) == count and all(d["status"] == "delivered" for d in rows)


def delivery(marid: Marid, hook_id: int, status: str) -> dict[str, Any] | None:
    """The hook's first delivery once it has that status (and no sender holds it)."""
    rows = marid.webhook_dispatcher.store.deliveries(hook_id)
    if rows and rows[0]["status"] == status and rows[0]["lease"] is None:
        return rows[0]
    return None


def test_a_delivery_has_the_reference_body_headers_and_signature(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url("/signed"), secret=SECRET)

    variable_id = variable(delivering, user_id, "PLAIN", "proj", value="hello")

    [got] = receiver.wait_for(1)
    assert got.path == "/signed"
    assert got.body.endswith(b"}\n")
    assert got.body.count(b"\n") == 1
    assert got.json["action"] == "created"
    assert got.json["variable"]["id"] == variable_id
    assert got.json["variable"]["value"] == "hello"
    assert got.json["variable"]["url"] == f"{API_URL}/variables/{variable_id}"
    assert got.json["variable"]["namespace"]["url"] == f"{API_URL}/n/alice/proj"
    assert got.headers["Accept"] == "*/*"
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert got.headers["Content-Length"] == str(len(got.body))
    assert got.headers["User-Agent"] == "Djinn-CI-Hook"
    assert got.headers["X-Djinn-CI-Event"] == "variables"
    assert got.headers["X-Djinn-CI-Hook-ID"] == str(hook_id)
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Djinn-CI-Signature"] == f"sha256={expected}"


def test_the_payload_is_what_the_api_answers_for_the_same_thing(
    delivering: Marid, client: Client, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, auth = alice
    ns_id = namespace(delivering, user_id, "proj")
    save_hook(delivering, ns_id, receiver.url(), events=["variables"])

    created = client.post(
        "/api/variables", json={"key": "K", "value": "v", "namespace": "proj"}, headers=auth
    )

    [got] = receiver.wait_for(1)
    assert created.status_code == 201
    assert got.json == {"action": "created", "variable": created.json()}


def test_no_signature_without_a_secret(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    save_hook(delivering, ns_id, receiver.url())

    variable(delivering, user_id, "K", "proj")

    [got] = receiver.wait_for(1)
    assert "X-Djinn-CI-Signature" not in got.headers


def test_inactive_and_unsubscribed_webhooks_get_nothing(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    inactive = save_hook(delivering, ns_id, receiver.url("/inactive"), active=False)
    other_events = [e for e in EVENT_NAMES if e != "variables"]
    unsubscribed = save_hook(delivering, ns_id, receiver.url("/unsubscribed"), events=other_events)
    listening = save_hook(delivering, ns_id, receiver.url("/listening"), events=["variables"])

    variable(delivering, user_id, "K", "proj")

    receiver.wait_for(1)
    eventually(lambda: delivery(delivering, listening, "delivered"))
    assert [r.path for r in receiver.received] == ["/listening"]
    store = delivering.webhook_dispatcher.store
    assert store.deliveries(inactive) == []
    assert store.deliveries(unsubscribed) == []


def test_an_event_goes_only_to_its_own_namespace_never_to_parent_child_or_other(
    delivering: Marid, receiver: Receiver, users: Users, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    bob_id, _ = users.create("bob")
    root = namespace(delivering, user_id, "root")
    child = namespace(delivering, user_id, "child", parent="root")
    grandchild = namespace(delivering, user_id, "grand", parent="root/child")
    other = namespace(delivering, user_id, "other")
    bobs = namespace(delivering, bob_id, "root")  # same name, another owner
    hooks = {
        ns: save_hook(delivering, ns, receiver.url(f"/{ns}"))
        for ns in (root, child, grandchild, other, bobs)
    }

    variable(delivering, user_id, "IN_CHILD", "root/child")
    variable(delivering, bob_id, "IN_BOBS", "root")

    receiver.wait_for(2)
    eventually(lambda: delivery(delivering, hooks[bobs], "delivered"))
    eventually(lambda: delivery(delivering, hooks[child], "delivered"))
    assert sorted(r.path for r in receiver.received) == sorted([f"/{child}", f"/{bobs}"])
    assert [r.json["variable"]["key"] for r in receiver.on(f"/{child}")] == ["IN_CHILD"]
    assert [r.json["variable"]["key"] for r in receiver.on(f"/{bobs}")] == ["IN_BOBS"]
    store = delivering.webhook_dispatcher.store
    for ns in (root, grandchild, other):
        assert store.deliveries(hooks[ns]) == []


def test_failures_are_retried_with_backoff_until_a_2xx(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url())
    receiver.statuses.extend([500, 503])

    variable(delivering, user_id, "K", "proj")

    received = receiver.wait_for(3)
    done = eventually(lambda: delivery(delivering, hook_id, "delivered"))
    assert len({r.body for r in received}) == 1
    assert done["attempts"] == 3
    assert done["finished_at"] is not None
    attempts = delivering.webhook_dispatcher.store.attempts(done["id"])
    assert [a["code"] for a in attempts] == [500, 503, 200]
    assert [a["response_body"] for a in attempts] == ["answer 500", "answer 503", "answer 200"]
    assert all(a["error"] is None and a["duration"] > 0 for a in attempts)
    gaps = [
        (b["created_at"] - a["created_at"]).total_seconds() for a, b in itertools.pairwise(attempts)
    ]
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.1


def test_a_delivery_fails_after_the_last_attempt(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url())
    receiver.default = 500

    variable(delivering, user_id, "K", "proj")

    failed = eventually(lambda: delivery(delivering, hook_id, "failed"))
    assert failed["attempts"] == 3
    assert len(delivering.webhook_dispatcher.store.attempts(failed["id"])) == 3
    assert delivering.webhook_dispatcher.sender.send_due() == 0  # never claimed again
    assert len(receiver.received) == 3


def test_connection_errors_are_retried_and_recorded(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    closed = Receiver()
    dead_url = closed.url("/gone")
    closed.close()  # nothing listens on that port any more
    hook_id = save_hook(delivering, ns_id, dead_url)

    variable(delivering, user_id, "K", "proj")

    failed = eventually(lambda: delivery(delivering, hook_id, "failed"))
    attempts = delivering.webhook_dispatcher.store.attempts(failed["id"])
    assert len(attempts) == 3
    assert all(a["code"] is None and a["error"] for a in attempts)
    last = delivering.webhook_dispatcher.last_response(hook_id)
    assert last is not None
    assert last["code"] is None
    assert last["error"] == attempts[-1]["error"]


def test_a_receiver_slower_than_the_timeout_is_a_retried_failure(
    settings: Settings, receiver: Receiver
) -> None:
    receiver.open.clear()
    try:
        with running(replace(settings, webhook_timeout=0.3, webhook_max_attempts=2)) as marid:
            user_id = register(marid, "alice")
            hook_id = save_hook(marid, namespace(marid, user_id, "proj"), receiver.url())

            variable(marid, user_id, "K", "proj")

            failed = eventually(lambda: delivery(marid, hook_id, "failed"))
            attempts = marid.webhook_dispatcher.store.attempts(failed["id"])
    finally:
        receiver.open.set()
    assert [(a["code"], a["error"]) for a in attempts] == [(None, "timed out after 0.3s")] * 2


def test_last_response_is_the_latest_attempt(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url())
    assert delivering.webhook_dispatcher.last_response(hook_id) is None
    receiver.statuses.append(500)

    variable(delivering, user_id, "K", "proj")

    done = eventually(lambda: delivery(delivering, hook_id, "delivered"))
    last = delivering.webhook_dispatcher.last_response(hook_id)
    attempts = delivering.webhook_dispatcher.store.attempts(done["id"])
    assert last == {
        "code": 200,
        "duration": attempts[-1]["duration"],
        "error": None,
        "created_at": attempts[-1]["created_at"],
    }
    assert 0 < last["duration"] < 10 * 10**9


def test_a_restart_mid_retry_delivers_the_pending_delivery_exactly_once(
    settings: Settings, receiver: Receiver
) -> None:
    settings = replace(settings, webhook_backoff=1.0)
    receiver.statuses.append(500)
    with running(settings) as first:
        user_id = register(first, "alice")
        hook_id = save_hook(first, namespace(first, user_id, "proj"), receiver.url())
        variable(first, user_id, "K", "proj")
        receiver.wait_for(1)
        assert eventually(lambda: delivery(first, hook_id, "pending"))["attempts"] == 1
    assert len(receiver.received) == 1

    with running(settings) as second:
        done = eventually(lambda: delivery(second, hook_id, "delivered"))
        variable(second, user_id, "AFTER", "proj")  # the new process goes on from there
        receiver.wait_for(3)
        eventually(lambda: all_delivered(second, hook_id, 2))

    assert [r.json["variable"]["key"] for r in receiver.received] == ["K", "K", "AFTER"]
    assert done["attempts"] == 2


def test_a_delivered_delivery_is_not_sent_again_after_a_restart(
    settings: Settings, receiver: Receiver
) -> None:
    with running(settings) as first:
        user_id = register(first, "alice")
        hook_id = save_hook(first, namespace(first, user_id, "proj"), receiver.url())
        variable(first, user_id, "ONCE", "proj")
        eventually(lambda: delivery(first, hook_id, "delivered"))

    with running(settings) as second:
        variable(second, user_id, "NEXT", "proj")
        receiver.wait_for(2)
        eventually(lambda: all_delivered(second, hook_id, 2))

    assert [r.json["variable"]["key"] for r in receiver.received] == ["ONCE", "NEXT"]


def test_masked_values_never_appear_in_any_delivery(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url(), secret=MASKED_VALUE)

    variable_id = variable(delivering, user_id, "SECRET", "proj", value=MASKED_VALUE, mask=True)
    delivering.settle(delivering.app.delete_variable(variable_id, user_id, TEST_ORIGIN))

    # Senders work in parallel: two deliveries to one hook may arrive in either order.
    created, deleted = sorted(receiver.wait_for(2), key=lambda r: r.json["action"] != "created")
    assert created.json["variable"]["value"] == "xxxxxx"
    assert created.json["variable"]["masked"]
    assert deleted.json == {"action": "deleted", "variable": created.json["variable"]}
    eventually(lambda: len(delivering.webhook_dispatcher.store.deliveries(hook_id)) == 2)
    for got in receiver.received:
        assert MASKED_VALUE.encode() not in got.body
    for row in delivering.webhook_dispatcher.store.deliveries(hook_id):
        assert MASKED_VALUE not in row["body"]


def test_private_addresses_are_refused_at_delivery_unless_allowed(
    settings: Settings, receiver: Receiver
) -> None:
    with running(replace(settings, allow_private_urls=False)) as marid:
        user_id = register(marid, "alice")
        ns_id = namespace(marid, user_id, "proj")
        direct = save_hook(marid, ns_id, receiver.url("/direct"))
        spelled = save_hook(marid, ns_id, f"http://127.1:{receiver.port}/spelled")

        variable(marid, user_id, "K", "proj")

        for hook_id in (direct, spelled):
            failed = eventually(lambda h=hook_id: delivery(marid, h, "failed"))  # type: ignore[misc]
            assert failed["attempts"] == 1  # refused for good, not retried
            last = marid.webhook_dispatcher.last_response(hook_id)
            assert last is not None
            assert last["code"] is None
            assert last["error"] is not None
            assert "loopback" in last["error"]
    assert receiver.received == []


def test_a_slow_receiver_never_slows_api_writes(
    delivering: Marid, client: Client, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, auth = alice
    ns_id = namespace(delivering, user_id, "proj")
    save_hook(delivering, ns_id, receiver.url())
    receiver.open.clear()
    first = client.post(
        "/api/variables", json={"key": "A", "value": "v", "namespace": "proj"}, headers=auth
    )
    assert receiver.waiting.wait(20)  # the first delivery is stuck in the receiver

    second = client.post(
        "/api/variables", json={"key": "B", "value": "v", "namespace": "proj"}, headers=auth
    )
    listed = client.get("/api/variables", headers=auth)

    assert (first.status_code, second.status_code, listed.status_code) == (201, 201, 200)
    assert not receiver.open.is_set()
    assert receiver.received == []
    receiver.open.set()
    keys = sorted(r.json["variable"]["key"] for r in receiver.wait_for(2))
    assert keys == ["A", "B"]


def test_deleting_a_webhook_drops_its_pending_deliveries(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    doomed = save_hook(delivering, ns_id, receiver.url("/doomed"))
    save_hook(delivering, ns_id, receiver.url("/witness"))
    receiver.default = 500
    variable(delivering, user_id, "K", "proj")
    eventually(lambda: receiver.on("/doomed"))

    remove_hook(delivering, doomed)
    receiver.default = 200
    variable(delivering, user_id, "L", "proj")

    eventually(lambda: [r for r in receiver.on("/witness") if r.json["variable"]["key"] == "L"])
    eventually(lambda: delivering.webhook_dispatcher.store.deliveries(doomed) == [])
    assert delivering.webhook_dispatcher.last_response(doomed) is None
    assert all(r.json["variable"]["key"] == "K" for r in receiver.on("/doomed"))


def test_deactivating_a_webhook_stops_its_deliveries_and_reactivating_resumes(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url())
    receiver.default = 500
    variable(delivering, user_id, "RETRIED", "proj")
    receiver.wait_for(1)

    change_hook(delivering, hook_id, active=False)
    variable(delivering, user_id, "WHILE_OFF", "proj")
    change_hook(delivering, hook_id, active=True)
    receiver.default = 200
    variable(delivering, user_id, "BACK_ON", "proj")

    eventually(lambda: [r for r in receiver.received if r.json["variable"]["key"] == "BACK_ON"])
    rows = eventually(
        lambda: [
            d
            for d in delivering.webhook_dispatcher.store.deliveries(hook_id)
            if d["status"] == "delivered"
        ]
    )
    assert [json.loads(d["body"])["variable"]["key"] for d in rows] == ["BACK_ON"]
    assert "WHILE_OFF" not in {r.json["variable"]["key"] for r in receiver.received}


def test_a_changed_url_and_secret_apply_to_later_attempts(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url("/old"), secret="old-secret")

    change_hook(
        delivering,
        hook_id,
        payload_url=receiver.url("/new"),
        secret=delivering.app.secrets.seal("new-secret"),
        events=["variables"],
    )
    variable(delivering, user_id, "K", "proj")

    [got] = receiver.wait_for(1)
    assert got.path == "/new"
    expected = hmac.new(b"new-secret", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Djinn-CI-Signature"] == f"sha256={expected}"


def test_deleting_a_namespace_deletes_its_webhooks_deliveries(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url())
    receiver.default = 500
    variable(delivering, user_id, "K", "proj")
    receiver.wait_for(1)

    delivering.settle(delivering.app.delete_namespace(ns_id, user_id, TEST_ORIGIN))

    eventually(lambda: delivering.webhook_dispatcher.store.deliveries(hook_id) == [])
    assert delivering.webhook_dispatcher.store.subscribers(ns_id, "variables") == []


def test_webhooks_run_only_where_the_api_installed_its_renderer(
    marid: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(marid, user_id, "proj")
    save_hook(marid, ns_id, receiver.url())

    variable(marid, user_id, "K", "proj")

    assert marid.webhook_dispatcher.runner is None
    marid.webhook_dispatcher.install(WebhookPayloads(marid))  # late: starts now, catches up
    assert receiver.wait_for(1)[0].json["variable"]["key"] == "K"


def test_a_webhook_created_over_the_api_is_delivered_to(
    delivering: Marid, client: Client, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    _, auth = alice
    assert client.post("/api/namespaces", json={"name": "proj"}, headers=auth).status_code == 201
    # 127.1 is loopback too; the API refuses only the reference's localhost names.
    hook = client.post(
        "/api/n/alice/proj/-/webhooks",
        json={
            "payload_url": f"http://127.1:{receiver.port}/api-made",
            "secret": SECRET,
            "events": ["cron"],
        },
        headers=auth,
    )
    assert hook.status_code == 201, hook.text

    cron = client.post(
        "/api/cron",
        json={"name": "nightly", "manifest": "namespace: proj\ndriver: {type: os}\n"},
        headers=auth,
    )

    [got] = receiver.wait_for(1)
    assert cron.status_code == 201, cron.text
    assert got.headers["X-Djinn-CI-Event"] == "cron"
    assert got.headers["X-Djinn-CI-Hook-ID"] == str(hook.json()["id"])
    assert got.json["action"] == "created"
    assert got.json["cron"]["name"] == "nightly"
    shown = eventually(lambda: client.get(hook.json()["url"], headers=auth).json()["last_response"])
    assert shown["code"] == 200
    assert shown["error"] is None
    assert shown["duration"] > 0


def test_certificates_are_checked_whatever_ssl_says(
    delivering: Marid, alice: tuple[int, Auth], tmp_path: Path
) -> None:
    """Djinn checks certificates whether `ssl` is set or not; so does marid (README)."""
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    tls = Receiver(tls=self_signed(tmp_path))
    try:
        hooks = [
            save_hook(delivering, ns_id, tls.url("/checked"), ssl=True),
            save_hook(delivering, ns_id, tls.url("/unchecked"), ssl=False),
        ]

        variable(delivering, user_id, "K", "proj")

        for hook_id in hooks:
            eventually(lambda h=hook_id: delivery(delivering, h, "failed"))  # type: ignore[misc]
            last = delivering.webhook_dispatcher.last_response(hook_id)
            assert last is not None
            assert last["code"] is None
            assert "CERTIFICATE_VERIFY_FAILED" in str(last["error"])
        assert tls.received == []
    finally:
        tls.close()


def test_a_secret_that_cannot_be_decrypted_fails_without_sending(
    delivering: Marid, receiver: Receiver, alice: tuple[int, Auth]
) -> None:
    user_id, _ = alice
    ns_id = namespace(delivering, user_id, "proj")
    hook_id = save_hook(delivering, ns_id, receiver.url())
    change_hook(delivering, hook_id, secret="sealed-under-another-key")

    variable(delivering, user_id, "K", "proj")

    failed = eventually(lambda: delivery(delivering, hook_id, "failed"))
    assert failed["attempts"] == 1
    assert delivering.webhook_dispatcher.last_response(hook_id) == {
        "code": None,
        "duration": 0,
        "error": "cannot decrypt the webhook's secret",
        "created_at": delivering.webhook_dispatcher.store.attempts(failed["id"])[0]["created_at"],
    }
    assert receiver.received == []
