"""Webhooks over HTTP: every route, message, scope and access rule, and what never leaks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.webhooks import EVENT_NAMES
from infrastructure.bootstrap import Marid
from projections.maintenance import rebuild
from projections.webhooks import WebhooksProjection, WebhooksView
from tests.conftest import Users
from tests.helpers import (
    BASE,
    DENIED,
    Auth,
    Client,
    add_collaborator,
    assert_lacks_scope,
    assert_not_found,
    assert_unauthorized,
    create_ns,
    token,
)

HOOKS = "/api/n/alice/proj/-/webhooks"
URL = "https://hooks.invalid/marid"
SECRET = "very-secret-value-1"
KEYS = {
    "id",
    "user_id",
    "author_id",
    "namespace_id",
    "payload_url",
    "ssl",
    "active",
    "events",
    "url",
    "namespace",
    "last_response",
}


@pytest.fixture
def people(users: Users) -> dict[str, tuple[int, Auth]]:
    return {name: users.create(name) for name in ("alice", "bob", "carol")}


@pytest.fixture
def alice(people: dict[str, tuple[int, Auth]]) -> Auth:
    return people["alice"][1]


@pytest.fixture
def bob(people: dict[str, tuple[int, Auth]]) -> Auth:
    return people["bob"][1]


@pytest.fixture
def proj(client: Client, alice: Auth) -> dict[str, Any]:
    return create_ns(client, alice, "proj")


def post(client: Client, auth: Auth, hooks: str = HOOKS, **body: Any) -> Any:
    return client.post(hooks, json=body, headers=auth)


def create(client: Client, auth: Auth, hooks: str = HOOKS, **body: Any) -> dict[str, Any]:
    body.setdefault("payload_url", URL)
    response = post(client, auth, hooks, **body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def patched(client: Client, auth: Auth, webhook_id: int, **body: Any) -> dict[str, Any]:
    response = client.patch(f"{HOOKS}/{webhook_id}", json=body, headers=auth)
    assert response.status_code == 200, response.text
    changed: dict[str, Any] = response.json()
    return changed


def listed(client: Client, auth: Auth, hooks: str = HOOKS) -> list[dict[str, Any]]:
    response = client.get(hooks, headers=auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


def errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.text
    body: dict[str, list[str]] = response.json()
    return body


def sealed_secret(marid: Marid, webhook_id: int) -> str | None:
    hook = marid.app.webhook(webhook_id)
    assert hook is not None
    return hook.secret


# --- creating ------------------------------------------------------------------------------


def test_create_returns_the_webhook_with_its_defaults(
    client: Client, people: dict[str, tuple[int, Auth]], alice: Auth, proj: dict[str, Any]
) -> None:
    response = post(client, alice, payload_url="HTTPS://Hooks.Invalid/Marid")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == KEYS
    assert body["payload_url"] == URL
    assert (body["ssl"], body["active"], body["last_response"]) == (False, True, None)
    assert body["events"] == list(EVENT_NAMES)
    assert body["user_id"] == body["author_id"] == people["alice"][0]
    assert body["namespace_id"] == proj["id"]
    assert body["url"] == f"{BASE}/n/alice/proj/-/webhooks/{body['id']}"


def test_the_namespace_is_rendered_as_everywhere_else(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    create_ns(client, alice, "sub", parent="proj")
    hooks = "/api/n/alice/proj/sub/-/webhooks"

    created = create(client, alice, hooks)

    namespace = client.get("/api/n/alice/proj/sub", headers=alice).json()
    assert created["namespace"] == namespace
    assert created["url"] == f"{BASE}/n/alice/proj/sub/-/webhooks/{created['id']}"
    assert listed(client, alice, hooks)[0]["namespace"] == namespace
    assert client.get(created["url"], headers=alice).json()["namespace"] == namespace


def test_fields_sent_are_applied_and_events_put_in_order(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    created = create(
        client,
        alice,
        ssl=True,
        active=False,
        events=["ssh_keys", "build.submitted", "invite.rejected", "build.submitted"],
    )

    assert (created["ssl"], created["active"]) == (True, False)
    assert created["events"] == ["build.submitted", "invite.rejected", "ssh_keys"]


def test_an_empty_events_list_means_every_event(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    assert create(client, alice, events=[])["events"] == list(EVENT_NAMES)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["Payload URL field required", "Payload URL missing http or https scheme"]),
        (
            {"payload_url": ""},
            ["Payload URL field required", "Payload URL missing http or https scheme"],
        ),
        ({"payload_url": "ftp://hooks.invalid/x"}, ["Payload URL missing http or https scheme"]),
        ({"payload_url": "https://"}, ["Payload URL missing host"]),
        ({"payload_url": "http://localhost/x"}, ["Payload URL cannot be localhost"]),
        ({"payload_url": "http://127.0.0.1/x"}, ["Payload URL cannot be localhost"]),
        ({"payload_url": "http://[::1]/x"}, ["Payload URL cannot be localhost"]),
        (
            {"payload_url": "http://hooks.invalid/x", "ssl": True},
            ["Payload URL cannot use SSL for plain http URL"],
        ),
        ({"payload_url": "http://hooks.invalid/a b"}, ["Payload URL is not a valid URL"]),
    ],
)
def test_payload_url_messages(
    client: Client, alice: Auth, proj: dict[str, Any], body: dict[str, Any], expected: list[str]
) -> None:
    response = post(client, alice, **body)

    assert errors(response) == {"payload_url": expected}
    assert listed(client, alice) == []


def test_unknown_event_names_are_a_400_on_events(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    response = post(client, alice, payload_url=URL, events=["cron", "build_submitted"])

    assert errors(response) == {"events": ['Events cannot contain unknown event "build_submitted"']}


def test_every_bad_field_is_reported_together(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    response = post(client, alice, payload_url="", events=["nope"])

    assert set(errors(response)) == {"payload_url", "events"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("payload_url", 5, "Payload url must be a string"),
        ("secret", ["x"], "Secret must be a string"),
        ("ssl", "yes", "Ssl must be a boolean"),
        ("active", "maybe", "Active must be a boolean"),
        ("remove_secret", 5, "Remove secret must be a boolean"),
        ("events", "cron", "Events must be an array of strings"),
        ("events", ["cron", 7], "Events must be an array of strings"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_type_errors_are_a_400_keyed_by_field(
    client: Client,
    alice: Auth,
    proj: dict[str, Any],
    method: str,
    field: str,
    value: Any,
    message: str,
) -> None:
    target = HOOKS if method == "POST" else f"{HOOKS}/{create(client, alice)['id']}"

    response = client.request(
        method, target, json={"payload_url": URL, field: value}, headers=alice
    )

    assert errors(response) == {field: [message]}


@pytest.mark.parametrize("body", [b"", b"{", b"[]"])
def test_undecodable_bodies_are_a_400_message(
    client: Client, alice: Auth, proj: dict[str, Any], body: bytes
) -> None:
    response = client.post(
        HOOKS, content=body, headers={**alice, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_payload_url_is_unique_across_all_namespaces(
    client: Client, alice: Auth, bob: Auth, proj: dict[str, Any]
) -> None:
    create_ns(client, bob, "other")
    create(client, alice)

    response = post(client, bob, "/api/n/bob/other/-/webhooks", payload_url=URL.upper())

    assert errors(response) == {"payload_url": ["Payload URL already exists"]}


# --- reading -------------------------------------------------------------------------------


def test_list_holds_the_namespaces_webhooks_by_id(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    create_ns(client, alice, "other")
    first = create(client, alice, payload_url="https://z.invalid/h")
    second = create(client, alice, payload_url="https://a.invalid/h")
    create(client, alice, "/api/n/alice/other/-/webhooks", payload_url="https://o.invalid/h")

    items = listed(client, alice)

    assert [i["id"] for i in items] == [first["id"], second["id"]]
    assert items == [first, second]
    assert "link" not in client.get(HOOKS, headers=alice).headers


def test_get_one_shows_the_latest_delivery_attempt(
    client: Client, marid: Marid, alice: Auth, proj: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create(client, alice)
    attempts = {
        created["id"]: {
            "code": 204,
            "duration": 1024000,
            "error": None,
            "created_at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        }
    }
    monkeypatch.setattr(marid.webhook_dispatcher, "last_response", attempts.get)

    body = client.get(created["url"], headers=alice).json()

    assert body["last_response"] == {
        "code": 204,
        "duration": 1024000,
        "error": None,
        "created_at": "2030-01-02T03:04:05.000000Z",
    }
    assert {k: v for k, v in body.items() if k != "last_response"} == {
        k: v for k, v in created.items() if k != "last_response"
    }
    assert listed(client, alice)[0]["last_response"] is None


def test_get_one_without_attempts_has_a_null_last_response(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    created = create(client, alice)

    response = client.get(created["url"], headers=alice)

    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize("bad_id", ["999", "abc", "-1", "1.0", "%201", "1e3", "0x1", "9" * 30])
def test_an_unknown_or_non_digit_id_is_404(
    client: Client, alice: Auth, proj: dict[str, Any], bad_id: str
) -> None:
    create(client, alice)

    one = f"{HOOKS}/{bad_id}"

    assert_not_found(client.get(one, headers=alice))
    assert_not_found(client.patch(one, json={"active": False}, headers=alice))
    assert_not_found(client.delete(one, headers=alice))


def test_another_namespaces_webhook_is_404_here(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    create_ns(client, alice, "other")
    theirs = create(client, alice, "/api/n/alice/other/-/webhooks")
    one = f"{HOOKS}/{theirs['id']}"

    assert_not_found(client.get(one, headers=alice))
    assert_not_found(client.patch(one, json={"active": False}, headers=alice))
    assert_not_found(client.delete(one, headers=alice))
    assert client.get(theirs["url"], headers=alice).json()["active"] is True


def test_an_unknown_namespace_is_404(client: Client, alice: Auth) -> None:
    assert_not_found(client.get("/api/n/alice/nope/-/webhooks", headers=alice))
    assert_not_found(post(client, alice, "/api/n/alice/nope/-/webhooks", payload_url=URL))
    assert_not_found(client.get("/api/n/nobody/proj/-/webhooks/1", headers=alice))


# --- changing ------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    created = create(client, alice, ssl=True, active=False, events=["cron"])

    kept = patched(client, alice, created["id"], payload_url="")
    url_only = patched(client, alice, created["id"], payload_url="https://Moved.invalid/h")

    assert kept == created
    assert url_only == {**created, "payload_url": "https://moved.invalid/h"}


def test_patch_applies_every_field_sent(client: Client, alice: Auth, proj: dict[str, Any]) -> None:
    created = create(client, alice)

    changed = patched(
        client, alice, created["id"], ssl=True, active=False, events=["images", "cron"]
    )

    assert (changed["ssl"], changed["active"]) == (True, False)
    assert changed["events"] == ["cron", "images"]
    assert changed["last_response"] is None
    assert patched(client, alice, created["id"], events=[])["events"] == list(EVENT_NAMES)
    assert client.get(created["url"], headers=alice).json()["events"] == list(EVENT_NAMES)


def test_patch_reports_bad_fields(client: Client, alice: Auth, proj: dict[str, Any]) -> None:
    plain = create(client, alice, payload_url="http://plain.invalid/h")
    taken = create(client, alice)
    one = f"{HOOKS}/{plain['id']}"

    ssl = client.patch(one, json={"ssl": True}, headers=alice)
    url = client.patch(one, json={"payload_url": taken["payload_url"]}, headers=alice)
    events = client.patch(one, json={"events": ["bogus"]}, headers=alice)

    assert errors(ssl) == {"payload_url": ["Payload URL cannot use SSL for plain http URL"]}
    assert errors(url) == {"payload_url": ["Payload URL already exists"]}
    assert errors(events) == {"events": ['Events cannot contain unknown event "bogus"']}
    assert client.get(one, headers=alice).json() == plain


def test_secrets_are_sealed_replaced_and_removed(
    client: Client, marid: Marid, alice: Auth, proj: dict[str, Any]
) -> None:
    created = create(client, alice, secret=SECRET)
    first = sealed_secret(marid, created["id"])
    assert first is not None
    assert SECRET not in first
    assert marid.app.secrets.open(first) == SECRET

    patched(client, alice, created["id"], active=False)
    assert sealed_secret(marid, created["id"]) == first

    patched(client, alice, created["id"], secret="another-secret-2")
    second = sealed_secret(marid, created["id"])
    assert second is not None
    assert second != first
    assert marid.app.secrets.open(second) == "another-secret-2"

    patched(client, alice, created["id"], remove_secret=True)
    assert sealed_secret(marid, created["id"]) is None


def test_the_secret_is_never_in_any_response(
    client: Client, marid: Marid, alice: Auth, proj: dict[str, Any]
) -> None:
    created = post(client, alice, payload_url=URL, secret=SECRET)
    webhook_id = created.json()["id"]
    responses = [
        created,
        client.get(HOOKS, headers=alice),
        client.get(f"{HOOKS}/{webhook_id}", headers=alice),
        client.patch(f"{HOOKS}/{webhook_id}", json={"secret": SECRET + "2"}, headers=alice),
    ]
    sealed = sealed_secret(marid, webhook_id)
    assert sealed is not None

    for response in responses:
        assert response.status_code in (200, 201)
        assert SECRET not in response.text
        assert sealed not in response.text
        assert "secret" not in response.text


# --- deleting ------------------------------------------------------------------------------


def test_delete_is_204_and_frees_the_url(
    client: Client, alice: Auth, bob: Auth, proj: dict[str, Any]
) -> None:
    created = create(client, alice)

    response = client.delete(created["url"], headers=alice)

    assert response.status_code == 204
    assert response.content == b""
    assert_not_found(client.get(created["url"], headers=alice))
    assert listed(client, alice) == []
    create_ns(client, bob, "other")
    assert create(client, bob, "/api/n/bob/other/-/webhooks")["payload_url"] == URL


def test_deleting_the_namespace_deletes_its_webhooks(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    create_ns(client, alice, "sub", parent="proj")
    in_root = create(client, alice)
    in_sub = create(
        client, alice, "/api/n/alice/proj/sub/-/webhooks", payload_url="https://s.invalid/"
    )

    assert client.delete("/api/n/alice/proj", headers=alice).status_code == 204

    create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    assert listed(client, alice) == []
    assert listed(client, alice, "/api/n/alice/proj/sub/-/webhooks") == []
    assert_not_found(client.get(f"{HOOKS}/{in_root['id']}", headers=alice))
    reused = create(client, alice, payload_url=URL)
    assert reused["id"] != in_root["id"]
    assert create(client, alice, payload_url=in_sub["payload_url"])["payload_url"] == (
        "https://s.invalid/"
    )


def test_deleting_a_child_namespace_keeps_the_roots_webhooks(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    create_ns(client, alice, "sub", parent="proj")
    kept = create(client, alice)
    create(client, alice, "/api/n/alice/proj/sub/-/webhooks", payload_url="https://s.invalid/")

    client.delete("/api/n/alice/proj/sub", headers=alice)

    assert listed(client, alice) == [kept]


# --- access --------------------------------------------------------------------------------


@pytest.mark.parametrize("visibility", ["private", "internal", "public"])
def test_collaborator_may_do_everything(
    client: Client,
    people: dict[str, tuple[int, Auth]],
    marid: Marid,
    alice: Auth,
    bob: Auth,
    visibility: str,
) -> None:
    ns = create_ns(client, alice, "proj", visibility=visibility)
    add_collaborator(marid, ns["id"], people["bob"][0])
    owners = create(client, alice)

    mine = create(client, bob, payload_url="https://bob.invalid/h")
    changed = patched(client, bob, owners["id"], active=False)

    assert (mine["user_id"], mine["author_id"]) == (people["alice"][0], people["bob"][0])
    assert changed["active"] is False
    assert [h["id"] for h in listed(client, bob)] == [owners["id"], mine["id"]]
    assert client.get(owners["url"], headers=bob).status_code == 200
    assert client.delete(owners["url"], headers=bob).status_code == 204


@pytest.mark.parametrize("visibility", ["internal", "public"])
def test_a_reader_cannot_see_webhooks(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)
    hook = create(client, alice)

    assert_not_found(client.get(HOOKS, headers=bob))
    assert_not_found(client.get(hook["url"], headers=bob))
    assert_not_found(client.patch(hook["url"], json={"active": False}, headers=bob))
    assert_not_found(client.delete(hook["url"], headers=bob))
    assert client.get(hook["url"], headers=alice).json() == hook


@pytest.mark.parametrize("visibility", ["internal", "public"])
def test_a_reader_cannot_create_422_after_400(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)

    bad = post(client, bob, payload_url="")
    refused = post(client, bob, payload_url=URL)

    assert bad.status_code == 400
    assert (refused.status_code, refused.json()) == (422, DENIED)
    assert listed(client, alice) == []


def test_a_stranger_to_a_private_namespace_gets_404_before_the_body(
    client: Client, alice: Auth, bob: Auth, proj: dict[str, Any]
) -> None:
    hook = create(client, alice)

    assert_not_found(client.get(HOOKS, headers=bob))
    assert_not_found(post(client, bob, payload_url=5))
    assert_not_found(client.get(hook["url"], headers=bob))
    assert_not_found(client.patch(hook["url"], json={"ssl": "x"}, headers=bob))
    assert_not_found(client.delete(hook["url"], headers=bob))


def test_anonymous_reads_are_404_even_in_a_public_namespace(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj", visibility="public")
    hook = create(client, alice)

    assert_not_found(client.get(HOOKS))
    assert_not_found(client.get(hook["url"]))


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_writes_need_a_token(client: Client, alice: Auth, method: str) -> None:
    create_ns(client, alice, "proj", visibility="public")
    hook = create(client, alice)
    target = HOOKS if method == "POST" else hook["url"]

    response = client.request(
        method, target, json={"payload_url": URL} if method != "DELETE" else None
    )

    assert_unauthorized(response)


@pytest.mark.parametrize(
    ("method", "one", "scope", "granted"),
    [
        ("GET", False, "webhook:read", "webhook:write,delete namespace:read"),
        ("GET", True, "webhook:read", "webhook:write,delete namespace:read"),
        ("POST", False, "webhook:write", "webhook:read,delete namespace:read,write"),
        ("PATCH", True, "webhook:write", "webhook:read,delete namespace:read,write"),
        ("DELETE", True, "webhook:delete", "webhook:read,write namespace:read,delete"),
    ],
)
def test_token_without_the_routes_scope_is_403_before_anything_else(
    client: Client,
    people: dict[str, tuple[int, Auth]],
    marid: Marid,
    alice: Auth,
    proj: dict[str, Any],
    method: str,
    one: bool,
    scope: str,
    granted: str,
) -> None:
    hook = create(client, alice)
    limited = token(marid, people["alice"][0], granted)
    stranger = token(marid, people["bob"][0], granted)
    body = {"payload_url": 5} if method in ("POST", "PATCH") else None
    targets = [f"{HOOKS}/{hook['id']}" if one else HOOKS]
    targets.append("/api/n/alice/nope/-/webhooks" + ("/1" if one else ""))

    for target in targets:
        for auth in (limited, stranger):
            assert_lacks_scope(client.request(method, target, json=body, headers=auth), scope)


def test_only_the_webhook_scopes_are_needed(
    client: Client,
    people: dict[str, tuple[int, Auth]],
    marid: Marid,
    alice: Auth,
    proj: dict[str, Any],
) -> None:
    hooks_only = token(marid, people["alice"][0], "webhook:read,write,delete")

    created = create(client, hooks_only)

    assert listed(client, hooks_only) == [created]
    assert client.get(created["url"], headers=hooks_only).status_code == 200
    assert patched(client, hooks_only, created["id"], active=False)["active"] is False
    assert client.delete(created["url"], headers=hooks_only).status_code == 204


# --- read model ----------------------------------------------------------------------------


def test_rebuilding_the_read_model_gives_the_live_rows(
    client: Client, marid: Marid, alice: Auth, proj: dict[str, Any]
) -> None:
    create_ns(client, alice, "gone")
    kept = create(client, alice, secret=SECRET, events=["cron"])
    patched(client, alice, kept["id"], active=False, payload_url="https://kept.invalid/h")
    dropped = create(client, alice, payload_url="https://dropped.invalid/h")
    client.delete(dropped["url"], headers=alice)
    create(client, alice, "/api/n/alice/gone/-/webhooks", payload_url="https://gone.invalid/h")
    client.delete("/api/n/alice/gone", headers=alice)
    view = marid.projections["webhooks"].view
    live = view.rows("webhooks")

    applied = rebuild(marid.app, marid.datastore, WebhooksProjection, WebhooksView)

    assert applied > 0
    assert view.rows("webhooks") == live
    assert [(r["id"], r["payload_url"], r["active"]) for r in live] == [
        (kept["id"], "https://kept.invalid/h", False)
    ]
    assert live[0]["events"] == ["cron"]
    assert live[0]["secret"] == sealed_secret(marid, kept["id"])
