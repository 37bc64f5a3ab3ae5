"""A webhook's deliveries over HTTP: the list, redelivery, pruning, and refused addresses
logged with the webhook's id; deliveries go to a real receiver on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

import pytest

from api.webhook_payloads import WebhookPayloads
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from infrastructure.webhooks.sender import Policy, Sender
from tests.conftest import TEST_ORIGIN, Users, wired
from tests.helpers import Auth, Client, assert_not_found, create_ns
from tests.integration.webhook_support import (
    Receiver,
    change_hook,
    delivery_settings,
    eventually,
    save_hook,
)

HOOKS = "/api/n/alice/proj/-/webhooks"


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
    marid.webhook_dispatcher.install(WebhookPayloads(marid))
    return marid


@pytest.fixture
def alice(users: Users) -> tuple[int, Auth]:
    return users.create("alice")


@pytest.fixture
def proj(client: Client, alice: tuple[int, Auth]) -> int:
    namespace_id: int = create_ns(client, alice[1], "proj", visibility="public")["id"]
    return namespace_id


def add_variable(client: Client, auth: Auth, key: str) -> None:
    body = {"key": key, "value": "v", "namespace": "proj"}
    assert client.post("/api/variables", json=body, headers=auth).status_code == 201


def finished(marid: Marid, hook_id: int, count: int) -> list[dict[str, Any]] | None:
    """The hook's deliveries once there are `count` and none is pending any more."""
    rows = marid.webhook_dispatcher.store.deliveries(hook_id)
    done = len(rows) == count and all(r["status"] != "pending" for r in rows)
    return rows if done else None


def test_deliveries_are_listed_newest_first_with_their_latest_attempt(
    delivering: Marid, client: Client, receiver: Receiver, alice: tuple[int, Auth], proj: int
) -> None:
    _, auth = alice
    hook_id = save_hook(delivering, proj, receiver.url())
    receiver.statuses.extend([500, 200])  # the first delivery's first attempt fails
    add_variable(client, auth, "A")
    eventually(lambda: finished(delivering, hook_id, 1))
    add_variable(client, auth, "B")
    first, second = eventually(lambda: finished(delivering, hook_id, 2))

    listed = client.get(f"{HOOKS}/{hook_id}/deliveries", headers=auth)
    one_per_page = client.get(f"{HOOKS}/{hook_id}/deliveries?per_page=1&page=2", headers=auth)

    assert listed.status_code == 200, listed.text
    newest, oldest = listed.json()
    assert [newest["id"], oldest["id"]] == [second["id"], first["id"]]
    assert (oldest["event"], oldest["status"], oldest["attempts"]) == ("variables", "delivered", 2)
    assert oldest["last_response"]["code"] == 200
    assert oldest["last_response"]["duration"] > 0
    assert oldest["redelivery_of"] is None
    assert oldest["created_at"].endswith("Z")
    assert oldest["url"].endswith(
        f"/api/n/alice/proj/-/webhooks/{hook_id}/deliveries/{first['id']}"
    )
    assert listed.headers["X-Total-Count"] == "2"
    assert [d["id"] for d in one_per_page.json()] == [first["id"]]
    assert 'page=1>; rel="prev"' in one_per_page.headers["Link"]


def test_a_redelivery_sends_the_same_body_again_as_a_new_delivery(
    delivering: Marid, client: Client, receiver: Receiver, alice: tuple[int, Auth], proj: int
) -> None:
    _, auth = alice
    hook_id = save_hook(delivering, proj, receiver.url(), secret="hook-secret-1")
    receiver.default = 503
    add_variable(client, auth, "A")
    [failed] = eventually(lambda: finished(delivering, hook_id, 1))
    assert failed["status"] == "failed"
    receiver.default = 200

    response = client.post(f"{HOOKS}/{hook_id}/deliveries/{failed['id']}/redeliver", headers=auth)

    assert response.status_code == 201, response.text
    new = response.json()
    assert (new["redelivery_of"], new["event"], new["webhook_id"]) == (
        failed["id"],
        "variables",
        hook_id,
    )
    again = eventually(lambda: finished(delivering, hook_id, 2))
    assert {d["id"]: d["status"] for d in again} == {failed["id"]: "failed", new["id"]: "delivered"}
    sent = receiver.wait_for(4)  # three failed attempts, then the redelivery
    assert sent[-1].body == sent[0].body
    assert sent[-1].headers["X-Djinn-CI-Signature"] == sent[0].headers["X-Djinn-CI-Signature"]
    listed = client.get(f"{HOOKS}/{hook_id}/deliveries", headers=auth).json()
    assert [(d["id"], d["status"]) for d in listed] == [
        (new["id"], "delivered"),
        (failed["id"], "failed"),
    ]


def test_redelivering_to_an_inactive_webhook_is_a_400(
    delivering: Marid, client: Client, receiver: Receiver, alice: tuple[int, Auth], proj: int
) -> None:
    _, auth = alice
    hook_id = save_hook(delivering, proj, receiver.url())
    add_variable(client, auth, "A")
    [done] = eventually(lambda: finished(delivering, hook_id, 1))
    change_hook(delivering, hook_id, active=False)
    eventually(lambda: not delivering.webhook_dispatcher.store.subscribers(proj, "variables"))

    response = client.post(f"{HOOKS}/{hook_id}/deliveries/{done['id']}/redeliver", headers=auth)

    assert (response.status_code, response.json()) == (400, {"message": "Webhook is not active"})
    assert len(delivering.webhook_dispatcher.store.deliveries(hook_id)) == 1


def test_unknown_deliveries_and_other_webhooks_deliveries_are_404(
    delivering: Marid, client: Client, receiver: Receiver, alice: tuple[int, Auth], proj: int
) -> None:
    _, auth = alice
    hook_id = save_hook(delivering, proj, receiver.url("/one"))
    other = save_hook(delivering, proj, receiver.url("/other"))
    add_variable(client, auth, "A")
    eventually(lambda: finished(delivering, hook_id, 1))
    [theirs] = eventually(lambda: finished(delivering, other, 1))

    for delivery in (str(theirs["id"]), "999999", "x1", "9" * 40):
        response = client.post(f"{HOOKS}/{hook_id}/deliveries/{delivery}/redeliver", headers=auth)
        assert_not_found(response)
    assert_not_found(client.get(f"{HOOKS}/999999/deliveries", headers=auth))
    assert len(delivering.webhook_dispatcher.store.deliveries(other)) == 1


def test_only_writers_see_and_redeliver_deliveries(
    delivering: Marid,
    client: Client,
    users: Users,
    receiver: Receiver,
    alice: tuple[int, Auth],
    proj: int,
) -> None:
    _, auth = alice
    _, bob = users.create("bob")  # may read the public namespace, not write to it
    _, reader = users.create("carol", "webhook:read")
    hook_id = save_hook(delivering, proj, receiver.url())
    add_variable(client, auth, "A")
    [done] = eventually(lambda: finished(delivering, hook_id, 1))
    redeliver = f"{HOOKS}/{hook_id}/deliveries/{done['id']}/redeliver"

    assert_not_found(client.get(f"{HOOKS}/{hook_id}/deliveries", headers=bob))
    assert_not_found(client.post(redeliver, headers=bob))
    assert client.post(redeliver, headers=reader).status_code == 403
    assert client.post(redeliver).status_code == 401
    assert len(delivering.webhook_dispatcher.store.deliveries(hook_id)) == 1


def test_deliveries_older_than_30_days_are_pruned_with_their_attempts(
    delivering: Marid, client: Client, receiver: Receiver, alice: tuple[int, Auth], proj: int
) -> None:
    _, auth = alice
    hook_id = save_hook(delivering, proj, receiver.url())
    for key in ("OLD", "RECENT", "PENDING"):
        add_variable(client, auth, key)
    old, recent, pending = eventually(lambda: finished(delivering, hook_id, 3))
    with delivering.datastore.transaction(commit=True) as curs:
        for row, age, status in ((old, 31, "delivered"), (recent, 29, "failed")):
            curs.execute(
                "UPDATE webhook_deliveries SET created_at = now() - make_interval(days => %s), "
                "status = %s WHERE id = %s",
                (age, status, row["id"]),
            )
        curs.execute(  # still being tried, however old: it stays until it ends
            "UPDATE webhook_deliveries SET created_at = now() - interval '40 days', "
            "status = 'pending', due_at = now() + interval '1 day' WHERE id = %s",
            (pending["id"],),
        )

    pruned = delivering.webhook_dispatcher.history.prune()

    store = delivering.webhook_dispatcher.store
    assert pruned == 1
    assert [d["id"] for d in store.deliveries(hook_id)] == [recent["id"], pending["id"]]
    assert store.attempts(old["id"]) == []
    assert len(store.attempts(recent["id"])) == 1
    # what the senders run once an hour (see the next test)
    assert delivering.webhook_dispatcher.sender.prune == delivering.webhook_dispatcher.history.prune


def test_senders_prune_when_they_start_and_then_once_per_interval() -> None:
    calls: list[None] = []
    sender = Sender(
        cast(Any, None),  # the outbox: pruning alone does not use it
        cast(Any, None),
        Policy(),
        allow_private=False,
        prune=lambda: len(calls.append(None) or calls),
        prune_interval=3600.0,
    )

    first, second = sender.prune_if_due(), sender.prune_if_due()

    assert (first, second, len(calls)) == (1, 0, 1)


def test_a_refused_delivery_is_logged_with_the_webhook_id(
    settings: Settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    instance = wired(replace(settings, allow_private_urls=False))
    try:
        instance.webhook_dispatcher.install(WebhookPayloads(instance))
        instance.start()
        user_id = instance.settle(
            instance.app.register_user("alice", "alice@example.com", TEST_ORIGIN)
        )
        outcome = instance.app.create_namespace(user_id, "proj", None, "", None, TEST_ORIGIN)
        ns_id = instance.settle(outcome)
        hook_id = save_hook(instance, ns_id, receiver.url())  # as recorded before the check
        caplog.set_level(logging.INFO, logger="marid.webhooks")

        variable = instance.app.create_variable(user_id, "K", "v", False, "proj", TEST_ORIGIN)
        instance.settle(variable)

        eventually(lambda: finished(instance, hook_id, 1))
    finally:
        instance.close()
    [record] = [r for r in caplog.records if r.name == "marid.webhooks" and "refused" in r.message]
    assert record.levelno == logging.WARNING
    assert record.message.startswith(f"webhook {hook_id} delivery ")
    assert "127.0.0.1 resolves to a loopback address" in record.message
    assert receiver.received == []
