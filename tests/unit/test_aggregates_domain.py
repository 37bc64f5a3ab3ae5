"""The rules marid's aggregates share (domain/aggregates.py): ids, deletion, assignments."""

from __future__ import annotations

from domain.identity import aggregate_id
from domain.namespaces import Namespace
from domain.origin import Origin
from domain.variables import Variable
from domain.webhooks import Webhook

ORIGIN = Origin.system("test")


def variable() -> Variable:
    return Variable(
        public_id=3,
        owner_id=1,
        author_id=1,
        namespace_id=None,
        key="K",
        value="v",
        masked=False,
        origin=ORIGIN,
    )


def webhook(events: list[str]) -> Webhook:
    return Webhook(
        public_id=4,
        namespace_id=2,
        user_id=1,
        author_id=1,
        payload_url="https://h/hook",
        ssl=True,
        active=True,
        events=events,
        secret=None,
        origin=ORIGIN,
    )


def test_aggregate_id_comes_from_kind_and_public_id() -> None:
    created = variable()

    assert created.id == aggregate_id("variable", 3) == Variable.create_id(3)


def test_a_new_aggregate_is_not_deleted_and_is_deleted_once() -> None:
    created = variable()
    created.collect_events()

    fresh = created.deleted
    created.delete(ORIGIN)
    created.delete(ORIGIN)

    assert fresh is False
    assert created.deleted is True
    assert [type(e) for e in created.collect_events()] == [Variable.Deleted]


def test_deleted_event_records_the_ids_the_aggregate_names() -> None:
    root = Namespace.create_root(5, 1, "proj", "", "private", ORIGIN)
    root.collect_events()

    root.delete(ORIGIN)

    (deleted,) = root.collect_events()
    assert isinstance(deleted, Namespace.Deleted)
    assert (deleted.public_id, deleted.origin) == (5, ORIGIN)


def test_an_aggregate_shares_no_list_with_the_events_it_records() -> None:
    events = ["cron"]
    hook = webhook(events)
    hook.update("https://h/hook2", False, False, ["images"], None, ORIGIN)
    created, updated = hook.collect_events()

    hook.events.append("variables")

    assert isinstance(created, Webhook.Created)
    assert isinstance(updated, Webhook.Updated)
    assert (created.events, updated.events, events) == (["cron"], ["images"], ["cron"])
