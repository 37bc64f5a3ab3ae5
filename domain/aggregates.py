"""What marid's aggregates share: ids from public ids, deletion, fields declared as
annotations, and events that assign new values of fields.

eventsourcing makes a dataclass of an aggregate class with annotations
(`BaseAggregate.__init_subclass__`): the generated `__init__` takes its bases' fields, then
its own, so a subclass declares only what is its own. Calling the class records its
`Created` event with those arguments; replaying the event calls `__init__` with the
event's attributes of the same names (`CanInitAggregate.mutate`). A field given at
creation but not kept is an `InitVar` (the origin of every `Created` event); state that a
new aggregate starts with is set in `__post_init__`, or by its `Created` event's `apply`.
`Declared` tells type checkers about the dataclass, which the library makes at run time.

Commands still guard, then emit: a command that sets fields to new values checks its rules
and triggers an `Assigns` event, whose `apply` (run again on replay) only assigns them.
"""

from __future__ import annotations

from copy import copy
from dataclasses import field, fields
from functools import cache
from typing import Any, ClassVar, dataclass_transform
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.identity import aggregate_id
from domain.origin import Origin


@dataclass_transform(eq_default=False, field_specifiers=(field,))
class Declared:
    """For type checkers: subclasses are dataclasses (eventsourcing makes them so)."""


class PublicAggregate(Aggregate, Declared):
    """An aggregate named by an integer public id: its id is derived from its `KIND` (the
    prefix of its aggregate ids) and that id, so a URL maps to it without a lookup.

    A subclass declares its fields after `public_id`, and its created event subclasses
    `PublicAggregate.Created` with them, in the same order (their order is stored).
    """

    KIND: ClassVar[str]

    public_id: int

    class Created(Aggregate.Created):
        public_id: int

    @classmethod
    def create_id(cls, public_id: int) -> UUID:
        return aggregate_id(cls.KIND, public_id)


class Deletable(PublicAggregate):
    """An aggregate deleted once, by its own `Deleted` event.

    A subclass redeclares `Created` and `Deleted` (`class Deleted(Deletable.Deleted)`) with
    their attributes, so that its events keep their topics. `delete` triggers
    `type(self).Deleted` rather than calling an `@event` method, because an `@event` method
    defined here would record this class's event, under this class's topic.
    """

    deleted: bool = field(init=False)

    class Created(PublicAggregate.Created):
        def apply(self, aggregate: Deletable) -> None:
            aggregate.deleted = False

    class Deleted(Aggregate.Event):
        def apply(self, aggregate: Deletable) -> None:
            aggregate.deleted = True

    def delete(self, origin: Origin) -> None:
        """Record the deletion; deleting a deleted aggregate changes nothing."""
        if not self.deleted:
            self.trigger_event(type(self).Deleted, origin=origin, **self.deletion_ids())

    def deletion_ids(self) -> dict[str, Any]:
        """The ids the `Deleted` event records besides its origin (none by default)."""
        return {}


class Assigns(Aggregate.Event):
    """An event whose attributes (all but `origin`) are new values of the aggregate's
    attributes of the same names: applying it assigns copies of them, so that the
    aggregate never shares a list with a recorded event."""

    def apply(self, aggregate: Any) -> None:
        for name in _assigned(type(self)):
            setattr(aggregate, name, copy(getattr(self, name)))


@cache
def _assigned(event_class: type[Aggregate.Event]) -> tuple[str, ...]:
    recorded = {f.name for f in fields(Aggregate.Event)} | {"origin"}
    return tuple(f.name for f in fields(event_class) if f.name not in recorded)
