"""How a projection handles events: one handler per event type, and topics from them.

A projection sets `process_event = handlers()` and registers a handler for each event type
it projects (`@process_event.register`). `ReadModelProjection` subscribes it to exactly
the topics of those events, so the topics are never written out beside the handlers, nor
forgotten there; an event that reaches it without a handler only records its tracking.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from projections.base import ReadModel

T = TypeVar("T", bound=ReadModel)


def handlers() -> singledispatchmethod[None]:
    """A dispatcher of its own for one projection class (registrations on one dispatcher are
    seen by every class that shares it), whose fallback only records tracking."""
    return singledispatchmethod(_untracked)


def _untracked(self: Projection[ReadModel], domain_event: Any, tracking: Tracking) -> None:
    self.view.insert_tracking(tracking)


class ReadModelProjection(Projection[T], Generic[T]):
    """A projection into a read model, subscribed to the events it has handlers for."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dispatcher = cls.__dict__.get("process_event")
        if isinstance(dispatcher, singledispatchmethod):
            dispatcher.__get__(None, cls)  # makes the registrations it had to defer
            handled = dispatcher.dispatcher.registry
            cls.topics = tuple(get_topic(event) for event in handled if event is not object)


def created_row(event: Any, *columns: str, **renamed: str) -> dict[str, Any]:
    """The row of an aggregate from its created event: its public id, aggregate id and time
    of creation, the `columns` named like attributes of the event, and the `renamed` ones
    (column name = attribute name)."""
    row = {"id": event.public_id, "aggregate_id": event.originator_id}
    row.update({column: getattr(event, column) for column in columns})
    row.update({column: getattr(event, name) for column, name in renamed.items()})
    return {**row, "created_at": event.timestamp}
