"""What every namespaced resource (variable, key, object, image, cron) is and shares.

Each resource has `owner_id` (the namespace's owner, or the creator when it has no
namespace), `author_id` (who created it) and an optional `namespace_id`; it is deleted
once, and its aggregate id comes from its integer public id.

Events are a storage format, so a resource keeps its own event classes: it redeclares the
shared ones (`class Deleted(NamespacedResource.Deleted): pass`), and its events' topics
stay `domain.<module>:<Resource>.<Event>` (tests/unit/test_resource_events.py holds them).
The shared `delete` triggers `type(self).Deleted` rather than an `@event` method, because
an `@event` method defined here would record the base class's event, under its topic.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.identity import aggregate_id
from domain.origin import Origin


def uniqueness_scope(owner_id: int, namespace_id: int | None) -> str:
    """Names are unique per namespace, or per owner for resources without one."""
    return f"ns:{namespace_id}" if namespace_id is not None else f"user:{owner_id}"


class NamespacedResource(Aggregate):
    """The shape every namespaced resource shares; a subclass names its `KIND` (the prefix
    of its aggregate ids), redeclares `Created` with its own fields, and calls
    `super().__init__(public_id, owner_id, author_id, namespace_id)` from its `__init__`."""

    KIND: ClassVar[str]

    class Created(Aggregate.Created):
        public_id: int
        owner_id: int
        author_id: int
        namespace_id: int | None

    class Deleted(Aggregate.Event):
        origin: Origin

        def apply(self, aggregate: NamespacedResource) -> None:
            aggregate.deleted = True

    @classmethod
    def create_id(cls, public_id: int) -> UUID:
        return aggregate_id(cls.KIND, public_id)

    def __init__(
        self, public_id: int, owner_id: int, author_id: int, namespace_id: int | None
    ) -> None:
        self.public_id = public_id
        self.owner_id = owner_id
        self.author_id = author_id
        self.namespace_id = namespace_id
        self.deleted = False

    def delete(self, origin: Origin) -> None:
        """Record the deletion; deleting a deleted resource changes nothing."""
        if not self.deleted:
            self.trigger_event(type(self).Deleted, origin=origin)
