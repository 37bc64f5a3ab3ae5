"""The event-sourced application core: commands retried, loads, index claims, transcodings."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, ParamSpec, TypeVar, overload
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoding

from application.ids import IdAllocator, InMemoryIds
from application.input_errors import current_input_errors
from application.ports import SecretBox
from domain.errors import ConflictError, NotFoundError, ValidationError
from domain.identity import index_id
from domain.index import Index
from domain.origin import Origin

T = TypeVar("T")
P = ParamSpec("P")

MAX_ATTEMPTS = 5


def retried(attempt: Callable[[], T], attempts: int = MAX_ATTEMPTS) -> T:
    """Run a load-decide-save attempt, again while a concurrent writer won the race (the
    save failed with IntegrityError); ConflictError once `attempts` have all lost.

    Each attempt loads what it needs afresh, so rules are checked against the state that
    won. This is marid's one retry policy: `command` applies it to a use case.
    """
    for _ in range(attempts):
        try:
            return attempt()
        except IntegrityError:
            continue
    raise ConflictError()


@overload
def command(method: Callable[P, T], /) -> Callable[P, T]: ...


@overload
def command(*, attempts: int) -> Callable[[Callable[P, T]], Callable[P, T]]: ...


def command(
    method: Callable[P, T] | None = None, /, *, attempts: int = MAX_ATTEMPTS
) -> Callable[P, T] | Callable[[Callable[P, T]], Callable[P, T]]:
    """Mark a use case whose body loads, decides and saves: it runs again when a concurrent
    writer won the race (see `retried`). `@command`, or `@command(attempts=N)`.

    A command must not call another command: their retries would multiply.
    """

    def decorate(use_case: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(use_case)
        def run_command(*args: P.args, **kwargs: P.kwargs) -> T:
            return retried(lambda: use_case(*args, **kwargs), attempts)

        return run_command

    return decorate if method is None else decorate(method)


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


class Unloaded:
    """`CoreApplication.claim`'s default: the index was not loaded by the caller."""


UNLOADED = Unloaded()


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

    def get(self, aggregate_id: UUID, cls: type[T], what: str) -> T:
        """The live aggregate; NotFoundError(what) when it was never saved, is of another
        type, or was deleted."""
        aggregate = self.load(aggregate_id, cls)
        if aggregate is None or getattr(aggregate, "deleted", False):
            raise NotFoundError(what)
        return aggregate

    def load(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        """The aggregate as saved (deleted or not), or None when there is none of this type:
        for where absence is a normal answer; `get` is for where it is an error."""
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def find_index(self, kind: str, key: str) -> Index | None:
        """The index aggregate guarding `key`, or None when it was never claimed."""
        return self.load(index_id(kind, key), Index)

    def claim(
        self,
        kind: str,
        key: str,
        holder: int,
        origin: Origin,
        found: Index | Unloaded | None = UNLOADED,
    ) -> Index:
        """The index aggregate for `key`, claimed for `holder` (raises KeyTakenError).
        `found`: the index as the caller has just loaded it, None included (it is not
        loaded again)."""
        index = self.find_index(kind, key) if isinstance(found, Unloaded) else found
        if index is None:
            return Index(kind=kind, key=key, holder=holder, origin=origin)
        index.claim(holder, origin)
        return index

    def holder(self, kind: str, key: str) -> int | None:
        """The id of the resource holding `key`, or None."""
        index = self.find_index(kind, key)
        return None if index is None else index.holder

    def user_id_for(self, username: str) -> int | None:
        """The id of the user with this username, from the username index."""
        return self.holder("username", username.lower())
