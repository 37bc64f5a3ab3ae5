"""The audit, wired: filters from an operator's words, resources by address, time travel.

Shared by `marid audit` and `GET /api/audit`. Secrets stay sealed throughout: nothing
here holds a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate

from application.app import MaridApplication
from application.audit import (
    EVENT_RE,
    TOPIC_PREFIXES,
    AuditFilter,
    AuditQueryError,
    ResourceRef,
    actor_condition,
    mark_sealed,
    parse_time,
)
from domain.errors import DomainError, NotFoundError, ValidationError
from projections.audit_entries import AuditEntry, Resource, describe
from projections.audit_queries import AuditEvent, AuditLog

# filter name (API query parameter; CLI option without `--`) -> what it takes
FILTERS = ("resource", "actor", "since", "until", "event", "request_id")


@dataclass(frozen=True)
class ResourceState:
    """A resource as it was at `at`: the aggregate replayed up to its last event then."""

    resource: Resource
    at: datetime
    last: AuditEntry
    fields: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource": msgspec.to_builtins(self.resource),
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "version": self.last.event.version,
            "last_event": self.last.as_dict(),
            "state": self.fields,
        }


class Audit:
    def __init__(self, app: MaridApplication, base: str = "/api") -> None:
        self.app = app
        recorder: Any = app.recorder  # a PostgresApplicationRecorder
        self.log = AuditLog(recorder.datastore, recorder.events_table_name)
        self.base = base

    def filter(
        self, given: Mapping[str, str | None], now: datetime, *, bookkeeping: bool = False
    ) -> AuditFilter:
        """A filter from the operator's words (see FILTERS); ValidationError names the
        filters that cannot be understood."""
        problems: dict[str, list[str]] = {}
        values: dict[str, Any] = {"bookkeeping": bookkeeping}
        for name in FILTERS:
            raw = given.get(name)
            if raw is None or raw == "":
                continue
            try:
                values.update(self._condition(name, raw, now))
            except (AuditQueryError, NotFoundError) as exc:
                problems[name] = [str(exc)]
        if problems:
            raise ValidationError(problems)
        try:
            return AuditFilter(**values)
        except AuditQueryError as exc:
            raise ValidationError({"until": [str(exc)]}) from None

    def _condition(self, name: str, raw: str, now: datetime) -> dict[str, Any]:
        if name == "resource":
            ref = ResourceRef.parse(raw)
            if ref.public_id is None and ref.owner is None:
                return {"topic_prefix": TOPIC_PREFIXES[ref.kind]}
            return {"originator_id": self.resolve(ref)}
        if name == "actor":
            return {"actor": actor_condition(raw, self.app.user_id_for)}
        if name in ("since", "until"):
            return {name: parse_time(raw, now)}
        if name == "event" and not EVENT_RE.fullmatch(raw.strip()):
            raise AuditQueryError(f"bad event type {raw!r}: e.g. Variable.Created or Created")
        return {name: raw.strip()}

    def resolve(self, ref: ResourceRef) -> UUID:
        """The aggregate id of an addressed resource (deleted ones too)."""
        if ref.aggregate_id is not None:
            return ref.aggregate_id
        owner_id = self.app.user_id_for(ref.owner or "")
        if owner_id is None or ref.path is None:
            raise AuditQueryError(f"no such user: {ref.owner}")
        if ref.kind == "namespace":
            live = self.app.find_namespace(owner_id, ref.path)
            if live is not None:
                return live.id
            matches: dict[str, Any] = {"owner_id": owner_id, "path": ref.path}
        else:
            matches = {"owner_id": owner_id, "number": int(ref.path)}
        found = self.log.created_where(ref.kind, matches)
        if found is None:
            raise AuditQueryError(f"no such {ref.kind}: {ref.owner}/{ref.path}")
        return found

    def entries(self, events: list[AuditEvent]) -> list[AuditEntry]:
        return describe(self.log, events, self.base)

    def history(self, address: str) -> list[AuditEntry]:
        """Every event of one resource, oldest first."""
        ref = self.address(address)
        events = self.log.history(self.resolve(ref))
        if not events:
            raise NotFoundError(str(ref))
        return self.entries(events)

    def state_at(self, address: str, at: datetime) -> ResourceState:
        """The resource as it was at `at`, replayed from its events up to then."""
        ref = self.address(address)
        originator_id = self.resolve(ref)
        last = self.log.last_at(originator_id, at)
        if last is None:
            if not self.log.history(originator_id):
                raise NotFoundError(str(ref))
            raise DomainError(f"{ref} did not exist yet at {at.isoformat()}")
        aggregate: Aggregate = self.app.repository.get(originator_id, version=last.version)
        (entry,) = self.entries([last])
        fields = mark_sealed(type(aggregate).__name__, aggregate_fields(aggregate))
        return ResourceState(entry.resource, at, entry, fields)

    @staticmethod
    def address(text: str) -> ResourceRef:
        ref = ResourceRef.parse(text)
        if ref.public_id is None and ref.owner is None:
            raise AuditQueryError(f"name one resource: {ref.kind}:ID, not {text!r}")
        return ref


def aggregate_fields(aggregate: Aggregate) -> dict[str, Any]:
    """An aggregate's state as JSON-ready values (its id, version and public attributes)."""
    fields: dict[str, Any] = {
        "aggregate_id": aggregate.id,
        "version": aggregate.version,
        "created_on": aggregate.created_on,
        "modified_on": aggregate.modified_on,
    }
    fields.update((k, v) for k, v in vars(aggregate).items() if not k.startswith("_"))
    builtins: dict[str, Any] = msgspec.to_builtins(fields, enc_hook=str)
    return builtins
