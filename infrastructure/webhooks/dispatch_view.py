"""The dispatcher's view: its copy of the webhooks, what it knows of the things events
are about, and the outbox it fills, behind methods named after what they do.

The dispatcher writes through `Outbox` steps, each run with its tracking record in one
transaction (`DispatchView.commit`). Two implementations run them: `WebhookStore`
(store.py, with `SqlOutbox` from sql_outbox.py) in PostgreSQL, and `MemoryDispatchView`
(memory.py) in Python dicts, so the dispatcher's handlers are unit-tested without a
database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder


@dataclass(frozen=True)
class Subject:
    """What an event is about: its kind, public id, namespace, and its last rendering
    (the payload of its `deleted` event, when the read model no longer has it)."""

    kind: str
    public_id: int
    namespace_id: int | None
    body: dict[str, Any] | None


class Outbox(ABC):
    """The dispatcher's writes of one transaction."""

    @abstractmethod
    def put_hook(
        self, aggregate_id: UUID, hook_id: int, namespace_id: int, fields: dict[str, Any]
    ) -> None:
        """Insert or replace a webhook (`fields`: payload_url, ssl, active, events, secret;
        a known webhook keeps its namespace); a deactivated one loses its pending
        deliveries, which are never sent."""

    @abstractmethod
    def drop_hook(self, hook_id: int) -> None:
        """Delete a webhook with its deliveries and attempts (as Djinn does)."""

    @abstractmethod
    def enqueue(self, hook_ids: list[int], event: str, notification_id: int, body: str) -> None:
        """A pending delivery to each webhook, once per (notification, webhook, event)."""

    @abstractmethod
    def put_subject(self, aggregate_id: UUID, subject: Subject) -> None:
        """Remember a subject (a known one keeps its kind and public id)."""

    @abstractmethod
    def forget_subject(self, aggregate_id: UUID) -> None: ...

    @abstractmethod
    def forget_namespace(self, namespace_id: int) -> None:
        """A deleted namespace: its webhooks go (with their deliveries), its invites go, and
        what it held stays with the owner, detached (as in the read models)."""


Step = Callable[[Outbox], object]


def _nothing(outbox: Outbox) -> None:
    pass


class DispatchView(TrackingRecorder, ABC):
    """What the dispatcher reads and writes; reads see committed state."""

    @abstractmethod
    def commit(self, tracking: Tracking, step: Step) -> None:
        """Run `step` and record `tracking` in one transaction, exactly once: a
        notification the tracking record already covers is skipped."""

    @abstractmethod
    def subject(self, aggregate_id: UUID) -> Subject | None: ...

    @abstractmethod
    def hook(self, aggregate_id: UUID) -> tuple[int, int] | None:
        """(public id, namespace id) of a webhook, by its aggregate id."""

    @abstractmethod
    def subscribers(self, namespace_id: int, event: str) -> list[int]:
        """The active webhooks of exactly this namespace that subscribe to `event`."""

    def insert_tracking(self, tracking: Tracking) -> None:
        self.commit(tracking, _nothing)
