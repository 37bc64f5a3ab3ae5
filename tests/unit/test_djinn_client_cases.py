"""Use cases behind what Djinn's client expects, on the in-memory store.

Deleting a namespace deletes what lives only in it (crons, webhooks) as events in the same
save, and releases their names (a fake members port stands for the read models); an
`Idempotency-Key` answers with its build for 24 hours.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from application.app import MaridApplication
from application.resources import Placement, name_key
from application.webhooks import WebhookFields
from domain.crons import Cron
from domain.webhooks import Webhook
from tests.unit.conftest import ORIGIN, POPO, register
from tests.unit.test_cron_cases import DRIVERS, Clock, NoInputs, load, manifest

START = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
URL = "https://hooks.invalid/marid"


class Members:
    """The NamespaceMembers port over what the test made (a read model in production)."""

    def __init__(self) -> None:
        self.cron_places: dict[int, int] = {}
        self.webhook_places: dict[int, int] = {}

    def crons(self, namespace_ids: Collection[int]) -> list[int]:
        return [c for c, ns in self.cron_places.items() if ns in namespace_ids]

    def webhooks(self, namespace_ids: Collection[int]) -> list[int]:
        return [w for w, ns in self.webhook_places.items() if ns in namespace_ids]


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def app(clock: Clock) -> MaridApplication:
    return MaridApplication(POPO, clock=clock)


def make_cron(app: MaridApplication, members: Members, owner: int, namespace: str) -> int:
    cron_id = app.create_cron(
        owner, "nightly", None, None, manifest(namespace), DRIVERS, ORIGIN
    ).value
    members.cron_places[cron_id] = load(app, cron_id).namespace_id or 0
    return cron_id


def make_webhook(app: MaridApplication, members: Members, owner: int, ns_id: int) -> int:
    return make_webhook_at(app, members, owner, ns_id, URL)


def make_webhook_at(
    app: MaridApplication, members: Members, owner: int, ns_id: int, url: str
) -> int:
    webhook_id = app.create_webhook(ns_id, owner, WebhookFields(payload_url=url), ORIGIN).value
    members.webhook_places[webhook_id] = ns_id
    return webhook_id


def test_a_namespaces_crons_and_webhooks_are_deleted_with_it(app: MaridApplication) -> None:
    alice, members = register(app, "alice"), Members()
    root = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    child = app.create_namespace(alice, "sub", "proj", None, None, ORIGIN).value
    cron_id = make_cron(app, members, alice, "proj/sub")
    webhook_id = make_webhook(app, members, alice, root)
    cron_name = name_key(Placement(alice, child), "nightly")
    assert app.holder("cron", cron_name) == cron_id

    app.delete_namespace(root, alice, ORIGIN, members)

    cron = app.load(Cron.create_id(cron_id), Cron)
    hook = app.load(Webhook.create_id(webhook_id), Webhook)
    assert cron is not None
    assert cron.deleted
    assert hook is not None
    assert hook.deleted
    assert app.holder("cron", cron_name) is None
    assert app.webhook(webhook_id) is None


def test_names_and_urls_are_free_again_after_the_deletion(app: MaridApplication) -> None:
    alice, members = register(app, "alice"), Members()
    root = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    make_cron(app, members, alice, "proj")
    make_webhook(app, members, alice, root)

    app.delete_namespace(root, alice, ORIGIN, members)
    again = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value

    assert make_cron(app, members, alice, "proj") > 0
    assert make_webhook(app, members, alice, again) > 0


def test_a_stale_member_elsewhere_is_left_alone(app: MaridApplication) -> None:
    """The port reads a read model; a row that lags must not delete another namespace's."""
    alice, members = register(app, "alice"), Members()
    doomed = app.create_namespace(alice, "doomed", None, None, None, ORIGIN).value
    app.create_namespace(alice, "kept", None, None, None, ORIGIN)
    cron_id = make_cron(app, members, alice, "kept")
    members.cron_places[cron_id] = doomed  # as if the read model were wrong

    app.delete_namespace(doomed, alice, ORIGIN, members)

    assert not load(app, cron_id).deleted


def test_a_cron_whose_namespace_is_gone_is_deleted_instead_of_firing(
    app: MaridApplication, clock: Clock
) -> None:
    """Crons of namespaces deleted before they went with them (or created meanwhile)."""
    alice, members = register(app, "alice"), Members()
    root = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    cron_id = make_cron(app, members, alice, "proj")
    app.delete_namespace(root, alice, ORIGIN)  # no members port: the cron stays
    due = load(app, cron_id).next_run
    clock.now = due

    fired = app.fire_due(cron_id, due, NoInputs(), DRIVERS).value

    assert fired is None
    assert load(app, cron_id).deleted
    assert app.find_namespace(alice, "proj") is None  # not re-created by a build


# --- Idempotency-Key: the 24-hour window -----------------------------------------------------


def submit_with_key(app: MaridApplication, caller: int, key: str) -> int:
    outcome = app.submit_build(
        caller, manifest(), None, None, DRIVERS, NoInputs(), ORIGIN, idempotency_key=key
    )
    return outcome.value


def test_an_idempotency_key_answers_its_build_for_24_hours(
    app: MaridApplication, clock: Clock
) -> None:
    alice = register(app, "alice")
    first = submit_with_key(app, alice, "k")
    clock.now = datetime.now(UTC) + timedelta(hours=23)

    again = submit_with_key(app, alice, "k")

    assert again == first


def test_an_idempotency_key_past_24_hours_makes_a_new_build(
    app: MaridApplication, clock: Clock
) -> None:
    alice = register(app, "alice")
    first = submit_with_key(app, alice, "k")
    clock.now = datetime.now(UTC) + timedelta(hours=24, minutes=1)

    later = submit_with_key(app, alice, "k")
    clock.now = datetime.now(UTC)  # events carry the store's time: back to it
    again = submit_with_key(app, alice, "k")

    assert later != first
    assert again == later


def test_deleting_a_child_keeps_the_parents_crons_and_webhooks(app: MaridApplication) -> None:
    alice, members = register(app, "alice"), Members()
    root = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    child = app.create_namespace(alice, "sub", "proj", None, None, ORIGIN).value
    root_cron = make_cron(app, members, alice, "proj")
    webhook_id = make_webhook(app, members, alice, root)
    child_webhook = make_webhook_at(app, members, alice, child, "https://hooks.invalid/sub")

    app.delete_namespace(child, alice, ORIGIN, members)

    assert not load(app, root_cron).deleted
    assert app.webhook(webhook_id) is not None
    assert app.webhook(child_webhook) is None
