"""Index aggregates guard natural-key uniqueness (usernames, namespace names, ...).

An index aggregate's id is derived from the key, so two writers claiming the same key
collide on the aggregate's version and the second save fails: uniqueness is enforced by the
event store, never by reading a projection.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.identity import index_id
from domain.origin import Origin


class KeyTakenError(Exception):
    """Raised when a natural key is already held by another resource."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} is taken")
        self.kind = kind
        self.key = key


class Index(Aggregate):
    """Which resource holds a natural key; `holder` is None once released."""

    @staticmethod
    def create_id(kind: str, key: str) -> UUID:
        return index_id(kind, key)

    class Claimed(Aggregate.Created):
        kind: str
        key: str
        holder: int
        origin: Origin

    class Reclaimed(Aggregate.Event):
        holder: int
        origin: Origin

    class Released(Aggregate.Event):
        origin: Origin

    @event(Claimed)
    def __init__(self, kind: str, key: str, holder: int, origin: Origin) -> None:
        self.kind = kind
        self.key = key
        self.holder: int | None = holder

    def claim(self, holder: int, origin: Origin) -> None:
        if self.holder is not None and self.holder != holder:
            raise KeyTakenError(self.kind, self.key)
        if self.holder is None:
            self._reclaimed(holder=holder, origin=origin)

    @event(Reclaimed)
    def _reclaimed(self, holder: int, origin: Origin) -> None:
        self.holder = holder

    def release(self, holder: int, origin: Origin) -> None:
        if self.holder == holder:
            self._released(origin=origin)

    @event(Released)
    def _released(self, origin: Origin) -> None:
        self.holder = None
