"""The write side every namespaced resource's read model shares (variables, keys, objects,
images, crons): the common columns, and a row added when the resource is created, removed
when it is deleted, and detached when its namespace is deleted (it stays with its owner).

A resource's module declares only what is its own: its columns, the values of them in its
`Created` event, and handlers for its other events. Its queries are in resources.py.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from domain.namespaces import Namespace
from projections.base import AggregateTable
from projections.handling import ReadModelProjection, created_row, handlers

# Columns every resource table starts with.
COMMON_COLUMNS = (
    "id bigint PRIMARY KEY, aggregate_id uuid NOT NULL, user_id bigint NOT NULL, "
    "author_id bigint NOT NULL, namespace_id bigint, "
)


def resource_table(name: str, columns: str) -> dict[str, str]:
    """The `tables` of a resource read model: the common columns, then `columns`."""
    return {name: f"({COMMON_COLUMNS}{columns})"}


def resource_indexes(table: str) -> dict[str, tuple[str, str, str]]:
    return {
        f"{table}_aggregate_idx": (table, "UNIQUE", "(aggregate_id)"),
        f"{table}_user_idx": (table, "", "(user_id)"),
        f"{table}_namespace_idx": (table, "", "(namespace_id)"),
    }


class ResourceTables(AggregateTable):
    """A resource read model's intent layer; its table is named after the read model (a
    deleted namespace's resources are detached: `detach_namespace`)."""


T = TypeVar("T", bound=ResourceTables)


class ResourceProjection(ReadModelProjection[T], Generic[T]):
    """Handles a resource's creation and deletion and its namespace's deletion.

    A subclass sets `process_event = ResourceProjection.dispatch(TheAggregate)`, registers
    handlers of its own events on it, and returns its own columns from `columns`.
    """

    @staticmethod
    def dispatch(aggregate: Any) -> singledispatchmethod[None]:
        """A dispatcher of the common handlers for `aggregate`'s events, of its own for
        each projection class (registrations on one are not seen by another)."""
        dispatcher = handlers()
        dispatcher.register(aggregate.Created, ResourceProjection.created)
        dispatcher.register(aggregate.Deleted, ResourceProjection.deleted)
        dispatcher.register(Namespace.Deleted, ResourceProjection.namespace_deleted)
        return dispatcher

    def columns(self, event: Any) -> dict[str, Any]:
        """The resource's own columns, from its `Created` event."""
        raise NotImplementedError

    def created(self, event: Any, tracking: Tracking) -> None:
        common = created_row(event, "author_id", "namespace_id", user_id="owner_id")
        self.view.add({**common, **self.columns(event)}, tracking)

    def deleted(self, event: Any, tracking: Tracking) -> None:
        self.view.remove(event.originator_id, tracking)

    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        self.view.detach_namespace(event.public_id, tracking)
