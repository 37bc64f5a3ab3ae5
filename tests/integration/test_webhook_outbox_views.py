"""The dispatcher's PostgreSQL view (`WebhookStore`) against its in-memory twin: the same
steps, then the same webhooks, subjects and outbox. The dispatcher's unit tests run on the
twin; this proves that what they check is what PostgreSQL holds."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore

from infrastructure.webhooks.dispatch_view import DispatchView, Subject
from infrastructure.webhooks.memory import MemoryDispatchView
from infrastructure.webhooks.store import WebhookStore

APP = "Marid"
EVENTS = ("variables", "build.submitted", "invite.sent")


def uid(n: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"webhook-outbox:{n}")


def fields(*events: str, active: bool = True) -> dict[str, Any]:
    return {
        "payload_url": "https://example.com/hook",
        "ssl": True,
        "active": active,
        "events": list(events),
        "secret": None,
    }


def run(view: DispatchView) -> None:
    """Hooks in two namespaces, subjects of several kinds, deliveries (one enqueued twice);
    then a repeated notification, a deactivation, a deletion and a namespace's deletion."""
    steps: list[Any] = [
        lambda o: o.put_hook(uid(1), 1, 3, fields("variables", "build.submitted")),
        lambda o: o.put_hook(uid(2), 2, 3, fields("build.submitted")),
        lambda o: o.put_hook(uid(3), 3, 4, fields("variables")),
        lambda o: o.put_hook(uid(4), 4, 3, fields("invite.sent")),
        lambda o: o.put_hook(uid(5), 5, 4, fields("variables")),
        lambda o: o.put_subject(uid(10), Subject("variable", 7, 3, {"id": 7})),
        lambda o: o.put_subject(uid(11), Subject("invite", 5, 3, {"root_id": 1})),
        lambda o: o.put_subject(uid(12), Subject("namespace", 3, 3, {"id": 3})),
        lambda o: o.put_subject(uid(13), Subject("build", 9, 4, None)),
        lambda o: o.enqueue([1, 2], "build.submitted", 10, "b\n"),
        lambda o: (
            o.enqueue([1, 3, 5], "variables", 11, "v\n"),
            o.enqueue([1], "variables", 11, "v\n"),
        ),
        lambda o: o.put_hook(uid(2), 2, 99, fields("variables", active=False)),  # keeps ns
        lambda o: o.put_subject(uid(10), Subject("other", 70, 3, {"id": 70})),  # keeps kind
        lambda o: o.drop_hook(3),
        lambda o: o.enqueue([4], "invite.sent", 15, "i\n"),
        lambda o: o.forget_subject(uid(13)),
        lambda o: o.forget_namespace(3),
    ]
    for notification_id, step in enumerate(steps, start=1):
        view.commit(Tracking(APP, notification_id), step)
        if notification_id == 11:  # told again: ignored
            view.commit(Tracking(APP, 11), lambda o: o.enqueue([2], "variables", 11, "again\n"))


def state(view: DispatchView) -> dict[str, Any]:
    return {
        "hooks": {n: view.hook(uid(n)) for n in range(1, 6)},
        "subjects": {n: view.subject(uid(n)) for n in range(10, 14)},
        "subscribers": {(ns, e): view.subscribers(ns, e) for ns in (3, 4, 99) for e in EVENTS},
        "tracking": view.max_tracking_id(APP),
    }


def outbox(deliveries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    columns = ("webhook_id", "event", "notification_id", "body", "status")
    return [tuple(d[c] for c in columns) for d in deliveries]


def test_postgres_outbox_holds_what_its_in_memory_twin_holds(
    datastore: PostgresDatastore,
) -> None:
    live = WebhookStore(datastore)
    live.create_table()
    memory = MemoryDispatchView()

    run(live)
    run(memory)

    assert state(live) == state(memory)
    assert outbox(live.deliveries()) == outbox(memory.deliveries())
    assert state(memory) == {
        "hooks": {1: None, 2: None, 3: None, 4: None, 5: (5, 4)},
        "subjects": {
            10: Subject("variable", 7, None, {"id": 70}),
            11: None,
            12: None,
            13: None,
        },
        "subscribers": {
            (ns, e): [5] if (ns, e) == (4, "variables") else [] for ns in (3, 4, 99) for e in EVENTS
        },
        "tracking": 17,
    }
    assert outbox(memory.deliveries()) == [(5, "variables", 11, "v\n", "pending")]


def test_outbox_keeps_deliveries_of_live_hooks_once(datastore: PostgresDatastore) -> None:
    live = WebhookStore(datastore)
    live.create_table()
    memory = MemoryDispatchView()

    for view in (live, memory):
        view.commit(Tracking(APP, 1), lambda o: o.put_hook(uid(1), 1, 3, fields("variables")))
        view.commit(Tracking(APP, 2), lambda o: o.put_hook(uid(2), 2, 3, fields("variables")))
        view.commit(
            Tracking(APP, 3),
            lambda o: (
                o.enqueue([1, 2], "variables", 3, "v\n"),
                o.enqueue([2], "variables", 3, "v\n"),
            ),
        )
        view.commit(
            Tracking(APP, 4), lambda o: o.put_hook(uid(1), 1, 3, fields("variables", active=False))
        )

    assert (
        outbox(live.deliveries())
        == outbox(memory.deliveries())
        == [(2, "variables", 3, "v\n", "pending")]
    )
    assert live.subscribers(3, "variables") == memory.subscribers(3, "variables") == [2]
