"""The dispatcher's view in memory, for unit tests: the same steps and reads as in
PostgreSQL (`WebhookStore`), each commit with its tracking record all or nothing and
exactly once. Senders never run on it: it has no attempts and no claims."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.popo import POPOTrackingRecorder

from infrastructure.webhooks.dispatch_view import DispatchView, Outbox, Step, Subject


@dataclass
class Tables:
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)  # by public id
    subjects: dict[UUID, Subject] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    last_delivery_id: int = 0


class MemoryOutbox(Outbox):
    """One transaction's steps, on a copy of the tables."""

    def __init__(self, tables: Tables) -> None:
        self.tables = copy.deepcopy(tables)

    def put_hook(
        self, aggregate_id: UUID, hook_id: int, namespace_id: int, fields: dict[str, Any]
    ) -> None:
        known = self.tables.hooks.get(hook_id)
        if known is None:
            self.tables.hooks[hook_id] = {
                "aggregate_id": aggregate_id,
                "namespace_id": namespace_id,
                **copy.deepcopy(fields),
            }
        else:
            known.update(copy.deepcopy(fields))
        if not fields["active"]:
            self._drop_deliveries(lambda d: d["webhook_id"] == hook_id and d["status"] == "pending")

    def drop_hook(self, hook_id: int) -> None:
        self._drop_hooks({hook_id} & set(self.tables.hooks))

    def _drop_hooks(self, hook_ids: set[int]) -> None:
        self._drop_deliveries(lambda d: d["webhook_id"] in hook_ids)
        for hook_id in hook_ids:
            del self.tables.hooks[hook_id]

    def _drop_deliveries(self, gone: Callable[[dict[str, Any]], bool]) -> None:
        self.tables.deliveries = [d for d in self.tables.deliveries if not gone(d)]

    def enqueue(self, hook_ids: list[int], event: str, notification_id: int, body: str) -> None:
        for hook_id in hook_ids:
            key = (notification_id, hook_id, event)
            if any(
                (d["notification_id"], d["webhook_id"], d["event"]) == key
                for d in self.tables.deliveries
            ):
                continue  # the unique index: once per notification, webhook and event
            self.tables.last_delivery_id += 1
            self.tables.deliveries.append(
                {
                    "id": self.tables.last_delivery_id,
                    "webhook_id": hook_id,
                    "event": event,
                    "notification_id": notification_id,
                    "body": body,
                    "status": "pending",
                }
            )

    def put_subject(self, aggregate_id: UUID, subject: Subject) -> None:
        known = self.tables.subjects.get(aggregate_id)
        if known is not None:
            subject = replace(known, namespace_id=subject.namespace_id, body=subject.body)
        self.tables.subjects[aggregate_id] = copy.deepcopy(subject)

    def forget_subject(self, aggregate_id: UUID) -> None:
        self.tables.subjects.pop(aggregate_id, None)

    def forget_namespace(self, namespace_id: int) -> None:
        hooks = self.tables.hooks
        self._drop_hooks({i for i, hook in hooks.items() if hook["namespace_id"] == namespace_id})
        subjects = self.tables.subjects
        for aggregate_id, subject in list(subjects.items()):
            if subject.namespace_id != namespace_id:
                continue
            if subject.kind in ("namespace", "invite"):
                del subjects[aggregate_id]
            else:
                subjects[aggregate_id] = replace(subject, namespace_id=None)


class MemoryDispatchView(DispatchView, POPOTrackingRecorder):
    """The dispatcher's tables in Python dicts; `deliveries()` shows the outbox."""

    def __init__(self) -> None:
        super().__init__()
        self.tables = Tables()

    def commit(self, tracking: Tracking, step: Step) -> None:
        with self._database_lock:
            current = self.max_tracking_id(tracking.application_name)
            if current is not None and current >= tracking.notification_id:
                return
            outbox = MemoryOutbox(self.tables)
            step(outbox)
            self.tables = outbox.tables
            self._insert_tracking(tracking)

    def subject(self, aggregate_id: UUID) -> Subject | None:
        with self._database_lock:
            return copy.deepcopy(self.tables.subjects.get(aggregate_id))

    def hook(self, aggregate_id: UUID) -> tuple[int, int] | None:
        with self._database_lock:
            for hook_id, hook in self.tables.hooks.items():
                if hook["aggregate_id"] == aggregate_id:
                    return hook_id, int(hook["namespace_id"])
        return None

    def subscribers(self, namespace_id: int, event: str) -> list[int]:
        with self._database_lock:
            return sorted(
                hook_id
                for hook_id, hook in self.tables.hooks.items()
                if hook["namespace_id"] == namespace_id
                and hook["active"]
                and event in hook["events"]
            )

    def deliveries(self) -> list[dict[str, Any]]:
        """The outbox, oldest first: id, webhook_id, event, notification_id, body, status."""
        with self._database_lock:
            return copy.deepcopy(self.tables.deliveries)
