"""Helpers of the projection unit tests: real domain events, from aggregates, fed to a
projection's handlers; the rows are read back from its in-memory view."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.namespaces import Namespace
from domain.origin import Origin

ORIGIN = Origin.user(1, "req-1")
APP = "Marid"


def feed(projection: Projection[Any], events: Iterable[Any], first: int = 1) -> int:
    """Call the projection's handlers, one notification id per event from `first`;
    returns the last id used."""
    notification_id = first - 1
    for notification_id, event in enumerate(events, start=first):
        projection.process_event(event, Tracking(APP, notification_id))
    return notification_id


def namespace(public_id: int, owner_id: int = 1) -> Namespace:
    """A root namespace whose creation events are already collected."""
    root = Namespace.create_root(public_id, owner_id, f"ns{public_id}", "", "private", ORIGIN)
    root.collect_events()
    return root


def namespace_deleted(public_id: int) -> list[Any]:
    """The events of deleting namespace `public_id`."""
    root = namespace(public_id)
    root.delete(ORIGIN)
    return list(root.collect_events())


def unrelated_event() -> Any:
    """An event no read model handles (a namespace's child added)."""
    root = namespace(99)
    root.create_child(100, "child", "", ORIGIN)
    return next(e for e in root.collect_events() if isinstance(e, Namespace.ChildAdded))
