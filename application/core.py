"""The event-sourced application core: saving with retries, index claims, transcodings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoding

from application.ids import IdAllocator, InMemoryIds
from application.input_errors import current_input_errors
from application.ports import SecretBox
from domain.errors import ConflictError, ValidationError
from domain.identity import index_id
from domain.index import Index
from domain.origin import Origin

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

MAX_ATTEMPTS = 5


class OriginAsDict(Transcoding):
    """Stores an Origin inside events as a small JSON object."""

    type = Origin
    name = "origin"

    def encode(self, obj: Origin) -> dict[str, str | None]:
        return {"actor": obj.actor, "request_id": obj.request_id}

    def decode(self, data: dict[str, str | None]) -> Origin:
        return Origin(actor=str(data["actor"]), request_id=data.get("request_id"))


class UnconfiguredSecrets:
    """A SecretBox that refuses: an application must be given a real one to hold secrets."""

    def seal(self, plaintext: str) -> str:
        raise RuntimeError("no SecretBox configured")

    def open(self, sealed: str) -> str:
        raise RuntimeError("no SecretBox configured")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a use case returns: its value and the recordings to wait on for read-your-writes."""

    value: T
    recordings: list[Recording[UUID]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class CoreApplication(Application[UUID]):
    """Shared machinery of marid's use cases."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        ids: IdAllocator | None = None,
        clock: Callable[[], datetime] = utcnow,
        secrets: SecretBox | None = None,
    ) -> None:
        self.ids: IdAllocator = ids or InMemoryIds()
        self.clock = clock
        self.secrets: SecretBox = secrets or UnconfiguredSecrets()
        super().__init__(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(OriginAsDict())

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """Append the objects' new events, unless the request had fields that could not
        even be decoded (see `application.input_errors`): then nothing is written."""
        pending = current_input_errors()
        if pending:
            raise ValidationError(pending)
        return super().save(*objs, **kwargs)

    def run(self, command: Callable[[], Outcome[T]], attempts: int = MAX_ATTEMPTS) -> Outcome[T]:
        """Run a load-decide-save command, again when a concurrent writer won the race.

        The command must load what it needs each time it runs: a retry re-reads the
        aggregates, so rules are checked against the state that won.
        """
        for _ in range(attempts):
            try:
                return command()
            except IntegrityError:
                continue
        raise ConflictError()

    def load(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        """The aggregate, or None when it was never saved."""
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(aggregate, cls):
            return None
        return aggregate

    def claim(self, kind: str, key: str, holder: int, origin: Origin) -> Index:
        """The index aggregate for `key`, claimed for `holder` (raises KeyTakenError)."""
        index = self.load(index_id(kind, key), Index)
        if index is None:
            return Index(kind=kind, key=key, holder=holder, origin=origin)
        index.claim(holder, origin)
        return index

    def holder(self, kind: str, key: str) -> int | None:
        """The id of the resource holding `key`, or None."""
        index = self.load(index_id(kind, key), Index)
        return None if index is None else index.holder

    def user_id_for(self, username: str) -> int | None:
        """The id of the user with this username, from the username index."""
        return self.holder("username", username.lower())
