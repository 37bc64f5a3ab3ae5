"""Webhook rules and use cases on the in-memory store: URLs, events, secrets, access."""

from __future__ import annotations

from typing import Any

import pytest

from application.app import MaridApplication
from application.webhooks import URL_INDEX, WebhookFields
from domain.errors import NamespacePermissionError, NotFoundError, ValidationError
from domain.webhooks import (
    EVENT_NAMES,
    URL_INVALID,
    URL_LOCALHOST,
    URL_NO_HOST,
    URL_NO_SCHEME,
    URL_REQUIRED,
    URL_SSL_ON_HTTP,
    URL_TAKEN,
    Webhook,
    event_errors,
    normalise_url,
    payload_url_errors,
    subscribed_events,
)
from tests.unit.conftest import (
    ORIGIN,
    POPO,
    RacingApp,
    add_collaborator,
    event_count,
    events_after,
    register,
)
from tests.unit.test_images import ReversingBox

URL = "https://hooks.example/marid"


@pytest.fixture
def app() -> MaridApplication:
    return MaridApplication(POPO, secrets=ReversingBox())


@pytest.fixture
def alice(app: MaridApplication) -> int:
    return register(app, "alice")


@pytest.fixture
def proj(app: MaridApplication, alice: int) -> int:
    return app.create_namespace(alice, "proj", None, None, "internal", ORIGIN).value


def create(
    app: MaridApplication, namespace_id: int, caller: int, url: str | None = URL, **more: Any
) -> int:
    fields = WebhookFields(payload_url=url, **more)
    return app.create_webhook(namespace_id, caller, fields, ORIGIN).value


def update(
    app: MaridApplication, namespace_id: int, webhook_id: int, caller: int, **more: Any
) -> Webhook:
    app.update_webhook(namespace_id, webhook_id, caller, WebhookFields(**more), ORIGIN)
    return hook(app, webhook_id)


def hook(app: MaridApplication, webhook_id: int) -> Webhook:
    found = app.load(Webhook.create_id(webhook_id), Webhook)
    assert found is not None
    return found


def fields(call: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.fields


# --- payload URL rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "ssl", "expected"),
    [
        ("", False, [URL_REQUIRED, URL_NO_SCHEME]),
        ("   ", False, [URL_REQUIRED, URL_NO_SCHEME]),
        ("ftp://hooks.example/x", False, [URL_NO_SCHEME]),
        ("hooks.example/x", False, [URL_NO_SCHEME, URL_NO_HOST]),
        ("https://", False, [URL_NO_HOST]),
        ("https:///path", False, [URL_NO_HOST]),
        ("http://localhost/hook", False, [URL_LOCALHOST]),
        ("http://localhost:8080/hook", False, []),
        ("http://localhost./hook", False, [URL_LOCALHOST]),
        ("http://127.0.0.1/hook", False, [URL_LOCALHOST]),
        ("http://127.0.0.1:9000", False, []),
        ("http://[::1]/hook", False, [URL_LOCALHOST]),
        ("http://[::1]:9000/hook", False, []),
        ("http://user@localhost:1/", False, []),
        ("http://hooks.example/x", True, [URL_SSL_ON_HTTP]),
        ("http://localhost/x", True, [URL_LOCALHOST, URL_SSL_ON_HTTP]),
        ("http://hooks.example/x y", False, [URL_INVALID]),
        ("http://hooks.example/x\ny", False, [URL_INVALID]),
        (" https://hooks.example/x", False, [URL_INVALID]),
        ("http://[::1", False, [URL_INVALID]),
        ("http://hooks.example:99999/", False, [URL_INVALID]),
        ("http://hooks.example:port/", False, [URL_INVALID]),
    ],
)
def test_payload_url_rules(url: str, ssl: bool, expected: list[str]) -> None:
    assert payload_url_errors(url, ssl) == expected


@pytest.mark.parametrize(
    ("url", "ssl"),
    [
        ("https://hooks.example/x", True),
        ("https://hooks.example/x", False),
        ("http://hooks.example:8080/x?a=1", False),
        ("https://10.0.0.5/x", True),
        ("https://localhost.example/x", True),
    ],
)
def test_good_payload_urls_pass(url: str, ssl: bool) -> None:
    assert payload_url_errors(url, ssl) == []


def test_urls_are_lower_cased_whole() -> None:
    assert normalise_url("HTTPS://Hooks.Example/Path?Q=A") == "https://hooks.example/path?q=a"


# --- event names ------------------------------------------------------------------------


def test_events_are_put_in_the_fixed_order_once_each() -> None:
    names = ["ssh_keys", "build.submitted", "cron", "build.submitted"]

    assert subscribed_events(names) == ["build.submitted", "cron", "ssh_keys"]


def test_no_events_means_all_events() -> None:
    assert subscribed_events([]) == list(EVENT_NAMES)
    assert len(EVENT_NAMES) == 15
    assert "invite.rejected" in EVENT_NAMES


def test_unknown_event_names_are_reported_once_each() -> None:
    errors = event_errors(["cron", "build_submitted", "nope", "nope"])

    assert errors == [
        'Events cannot contain unknown event "build_submitted"',
        'Events cannot contain unknown event "nope"',
    ]


# --- creating ---------------------------------------------------------------------------


def test_new_webhook_is_active_with_every_event_and_no_secret(
    app: MaridApplication, alice: int, proj: int
) -> None:
    webhook_id = create(app, proj, alice, "HTTPS://Hooks.Example/Marid")

    created = hook(app, webhook_id)
    assert created.payload_url == "https://hooks.example/marid"
    assert (created.active, created.ssl, created.secret) == (True, False, None)
    assert created.events == list(EVENT_NAMES)
    assert (created.namespace_id, created.user_id, created.author_id) == (proj, alice, alice)


def test_created_event_holds_the_sealed_secret_only(
    app: MaridApplication, alice: int, proj: int
) -> None:
    before = event_count(app)

    webhook_id = create(app, proj, alice, secret="s3cret-value", events=["cron"], active=False)

    created = [e for e in events_after(app, before) if isinstance(e, Webhook.Created)]
    assert len(created) == 1
    assert created[0].secret == ReversingBox().seal("s3cret-value")
    assert "s3cret-value" not in repr(created[0].__dict__)
    assert created[0].events == ["cron"]
    assert created[0].active is False
    assert created[0].public_id == webhook_id


def test_every_bad_field_is_reported_together(app: MaridApplication, alice: int, proj: int) -> None:
    errors = fields(lambda: create(app, proj, alice, "", events=["bogus"]))

    assert errors == {
        "payload_url": [URL_REQUIRED, URL_NO_SCHEME],
        "events": ['Events cannot contain unknown event "bogus"'],
    }


def test_payload_url_is_unique_across_namespaces(
    app: MaridApplication, alice: int, proj: int
) -> None:
    bob = register(app, "bob")
    other = app.create_namespace(bob, "other", None, None, None, ORIGIN).value
    create(app, proj, alice)

    errors = fields(lambda: create(app, other, bob, URL.upper()))

    assert errors == {"payload_url": [URL_TAKEN]}


def test_collaborator_may_create(app: MaridApplication, alice: int, proj: int) -> None:
    bob = register(app, "bob")
    add_collaborator(app, proj, bob)

    webhook_id = create(app, proj, bob)

    assert (hook(app, webhook_id).user_id, hook(app, webhook_id).author_id) == (alice, bob)


def test_reader_is_refused_after_the_field_checks(
    app: MaridApplication, alice: int, proj: int
) -> None:
    bob = register(app, "bob")  # proj is internal: bob may read it, not write

    with pytest.raises(ValidationError):
        create(app, proj, bob, "")
    with pytest.raises(NamespacePermissionError):
        create(app, proj, bob)
    assert app.holder(URL_INDEX, URL) is None


def test_creating_in_a_missing_namespace_is_not_found(app: MaridApplication, alice: int) -> None:
    with pytest.raises(NotFoundError):
        create(app, 999, alice)


def test_concurrent_creates_of_one_url_have_one_winner(racing: RacingApp) -> None:
    racing.secrets = ReversingBox()
    alice = register(racing, "alice")
    proj = racing.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    winner: list[int] = []
    racing.competitors.append(lambda: winner.append(create(racing, proj, alice)))

    errors = fields(lambda: create(racing, proj, alice))

    assert errors == {"payload_url": [URL_TAKEN]}
    assert racing.holder(URL_INDEX, URL) == winner[0]


# --- changing ---------------------------------------------------------------------------


def test_update_changes_only_the_fields_sent(app: MaridApplication, alice: int, proj: int) -> None:
    webhook_id = create(app, proj, alice, ssl=True, active=False, events=["cron"], secret="old-one")
    sealed = hook(app, webhook_id).secret

    changed = update(app, proj, webhook_id, alice, payload_url="")

    assert changed.payload_url == URL
    assert (changed.ssl, changed.active, changed.events) == (True, False, ["cron"])
    assert changed.secret == sealed


def test_update_applies_every_field_sent(app: MaridApplication, alice: int, proj: int) -> None:
    webhook_id = create(app, proj, alice)

    changed = update(
        app,
        proj,
        webhook_id,
        alice,
        payload_url="https://New.Example/h",
        ssl=True,
        active=False,
        events=["objects", "build.started"],
    )

    assert changed.payload_url == "https://new.example/h"
    assert (changed.ssl, changed.active) == (True, False)
    assert changed.events == ["build.started", "objects"]


def test_update_with_an_empty_events_list_subscribes_to_all(
    app: MaridApplication, alice: int, proj: int
) -> None:
    webhook_id = create(app, proj, alice, events=["cron"])

    assert update(app, proj, webhook_id, alice, events=[]).events == list(EVENT_NAMES)


def test_updated_event_holds_the_complete_state(
    app: MaridApplication, alice: int, proj: int
) -> None:
    webhook_id = create(app, proj, alice, events=["cron"], secret="kept-secret")
    before = event_count(app)

    update(app, proj, webhook_id, alice, active=False)

    (updated,) = [e for e in events_after(app, before) if isinstance(e, Webhook.Updated)]
    assert updated.payload_url == URL
    assert (updated.ssl, updated.active, updated.events) == (False, False, ["cron"])
    assert updated.secret == ReversingBox().seal("kept-secret")


def test_a_new_secret_replaces_the_old(app: MaridApplication, alice: int, proj: int) -> None:
    webhook_id = create(app, proj, alice, secret="first-secret")

    changed = update(app, proj, webhook_id, alice, secret="second-secret")

    assert changed.secret == ReversingBox().seal("second-secret")


def test_remove_secret_clears_it_unless_a_new_one_is_sent(
    app: MaridApplication, alice: int, proj: int
) -> None:
    webhook_id = create(app, proj, alice, secret="first-secret")

    assert update(app, proj, webhook_id, alice, secret="", remove_secret=True).secret is None
    replaced = update(app, proj, webhook_id, alice, secret="again", remove_secret=True)
    assert replaced.secret == ReversingBox().seal("again")


def test_ssl_on_a_plain_http_url_is_refused_whichever_field_changes(
    app: MaridApplication, alice: int, proj: int
) -> None:
    webhook_id = create(app, proj, alice, "http://hooks.example/h")

    errors = fields(lambda: update(app, proj, webhook_id, alice, ssl=True))

    assert errors == {"payload_url": [URL_SSL_ON_HTTP]}
    assert hook(app, webhook_id).ssl is False


def test_update_to_a_taken_url_is_refused(app: MaridApplication, alice: int, proj: int) -> None:
    create(app, proj, alice)
    second = create(app, proj, alice, "https://second.example/h")

    errors = fields(lambda: update(app, proj, second, alice, payload_url=URL))

    assert errors == {"payload_url": [URL_TAKEN]}


def test_keeping_the_own_url_is_not_taken(app: MaridApplication, alice: int, proj: int) -> None:
    webhook_id = create(app, proj, alice)

    assert update(app, proj, webhook_id, alice, payload_url=URL.upper()).payload_url == URL


def test_changing_the_url_frees_the_old_one(app: MaridApplication, alice: int, proj: int) -> None:
    webhook_id = create(app, proj, alice)

    update(app, proj, webhook_id, alice, payload_url="https://moved.example/h")

    assert app.holder(URL_INDEX, URL) is None
    assert app.holder(URL_INDEX, "https://moved.example/h") == webhook_id
    assert create(app, proj, alice) != webhook_id


def test_update_of_another_namespaces_webhook_is_not_found(
    app: MaridApplication, alice: int, proj: int
) -> None:
    other = app.create_namespace(alice, "other", None, None, None, ORIGIN).value
    webhook_id = create(app, proj, alice)

    with pytest.raises(NotFoundError):
        update(app, other, webhook_id, alice, active=False)
    with pytest.raises(NotFoundError):
        app.delete_webhook(other, webhook_id, alice, ORIGIN)
    assert hook(app, webhook_id).active is True


def test_non_writers_cannot_see_a_webhook_to_change_it(
    app: MaridApplication, alice: int, proj: int
) -> None:
    bob = register(app, "bob")
    webhook_id = create(app, proj, alice)

    with pytest.raises(NotFoundError):
        update(app, proj, webhook_id, bob, active=False)
    with pytest.raises(NotFoundError):
        app.delete_webhook(proj, webhook_id, bob, ORIGIN)
    assert hook(app, webhook_id).deleted is False


def test_collaborator_may_change_and_delete(app: MaridApplication, alice: int, proj: int) -> None:
    bob = register(app, "bob")
    add_collaborator(app, proj, bob)
    webhook_id = create(app, proj, alice)

    assert update(app, proj, webhook_id, bob, active=False).active is False
    app.delete_webhook(proj, webhook_id, bob, ORIGIN)
    assert hook(app, webhook_id).deleted is True


# --- deleting ---------------------------------------------------------------------------


def test_delete_records_ids_and_frees_the_url(app: MaridApplication, alice: int, proj: int) -> None:
    webhook_id = create(app, proj, alice)
    before = event_count(app)

    app.delete_webhook(proj, webhook_id, alice, ORIGIN)

    (deleted,) = [e for e in events_after(app, before) if isinstance(e, Webhook.Deleted)]
    assert (deleted.public_id, deleted.namespace_id) == (webhook_id, proj)
    assert app.holder(URL_INDEX, URL) is None
    assert app.webhook(webhook_id) is None
    assert create(app, proj, alice) != webhook_id


def test_a_deleted_webhook_cannot_be_changed_or_deleted_again(
    app: MaridApplication, alice: int, proj: int
) -> None:
    webhook_id = create(app, proj, alice)
    app.delete_webhook(proj, webhook_id, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        update(app, proj, webhook_id, alice, active=False)
    with pytest.raises(NotFoundError):
        app.delete_webhook(proj, webhook_id, alice, ORIGIN)


def test_deleting_the_namespace_kills_its_webhooks_and_frees_their_urls(
    app: MaridApplication, alice: int, proj: int
) -> None:
    child = app.create_namespace(alice, "child", "proj", None, None, ORIGIN).value
    in_root = create(app, proj, alice)
    in_child = create(app, child, alice, "https://child.example/h")
    app.delete_namespace(proj, alice, ORIGIN)
    again = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value

    reused = create(app, again, alice)
    reused_child_url = create(app, again, alice, "https://child.example/h")

    assert app.webhook(in_root) is None
    assert app.webhook(in_child) is None
    assert app.holder(URL_INDEX, URL) == reused
    assert app.holder(URL_INDEX, "https://child.example/h") == reused_child_url
    with pytest.raises(NotFoundError):
        update(app, proj, in_root, alice, active=False)


def test_a_url_moved_onto_a_dead_webhooks_claim_takes_it_over(
    app: MaridApplication, alice: int, proj: int
) -> None:
    other = app.create_namespace(alice, "other", None, None, None, ORIGIN).value
    dead = create(app, other, alice, "https://dead.example/h")
    live = create(app, proj, alice)
    app.delete_namespace(other, alice, ORIGIN)

    update(app, proj, live, alice, payload_url="https://dead.example/h")

    assert app.holder(URL_INDEX, "https://dead.example/h") == live
    assert app.webhook(dead) is None
