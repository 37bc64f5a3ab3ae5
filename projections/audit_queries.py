"""Queries on the event log itself, for the audit: filtered in SQL, paged with LIMIT.

Events are stored by eventsourcing as JSON in `state` (bytea); the few fields filtered on
(actor, request id, time) are read from it in SQL, so only matching rows leave the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from application.audit import (
    BOOKKEEPING,
    KIND_OF_CLASS,
    TOPIC_PREFIXES,
    AuditFilter,
    mark_sealed,
)
from domain.identity import aggregate_id
from projections.rows import Queries

STATE = "convert_from(state, 'UTF8')::jsonb"
TIME = f"({STATE} #>> '{{timestamp,_data_}}')::timestamptz"
ACTOR = f"({STATE} #>> '{{origin,_data_,actor}}')"
REQUEST_ID = f"({STATE} #>> '{{origin,_data_,request_id}}')"
COLUMNS = "notification_id, originator_id, originator_version, topic, state"
HIDDEN = ("timestamp", "origin", "originator_topic")


@dataclass(frozen=True)
class AuditEvent:
    """One event as the audit shows it: who, when, what, with secrets marked sealed."""

    id: int
    time: datetime
    event: str  # `Variable.Created`
    originator_id: UUID
    version: int
    actor: str | None  # as stored: `user:3`, `system:cli`
    request_id: str | None
    data: dict[str, Any]

    @property
    def class_name(self) -> str:
        return self.event.split(".", 1)[0]

    @property
    def kind(self) -> str:
        return KIND_OF_CLASS.get(self.class_name, self.class_name.lower())


@dataclass(frozen=True)
class Subject:
    """A resource as its creation event names it."""

    kind: str
    id: int | str | None
    label: str | None
    owner_id: int | None
    fields: dict[str, Any]


def unwrap(value: Any) -> Any:
    """JSON as eventsourcing's transcoder wrote it, with `{_type_, _data_}` unwrapped."""
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"}:
            return unwrap(value["_data_"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def event_from(row: dict[str, Any]) -> AuditEvent:
    raw = json.loads(bytes(row["state"]))
    fields = unwrap(raw)
    origin = fields.get("origin") or {}
    name = row["topic"].partition(":")[2]
    data = {k: v for k, v in fields.items() if k not in HIDDEN}
    return AuditEvent(
        id=row["notification_id"],
        time=datetime.fromisoformat(fields["timestamp"]),
        event=name,
        originator_id=row["originator_id"],
        version=row["originator_version"],
        actor=origin.get("actor"),
        request_id=origin.get("request_id"),
        data=mark_sealed(name.split(".", 1)[0], data),
    )


def where(f: AuditFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if f.originator_id is not None:
        clauses.append("originator_id = %s")
        params.append(f.originator_id)
    if f.topic_prefix is not None:
        clauses.append("starts_with(topic, %s)")
        params.append(f.topic_prefix)
    elif not f.bookkeeping and f.originator_id is None:
        for kind in BOOKKEEPING:
            clauses.append("NOT starts_with(topic, %s)")
            params.append(TOPIC_PREFIXES[kind])
    if f.event is not None:
        clauses.append("topic LIKE %s")
        params.append(("%:" if "." in f.event else "%.") + f.event)
    if f.actor is not None:
        if f.actor.endswith("*"):
            clauses.append(f"starts_with({ACTOR}, %s)")
            params.append(f.actor[:-1])
        else:
            clauses.append(f"{ACTOR} = %s")
            params.append(f.actor)
    if f.request_id is not None:
        clauses.append(f"{REQUEST_ID} = %s")
        params.append(f.request_id)
    if f.since is not None:
        clauses.append(f"{TIME} >= %s")
        params.append(f.since)
    if f.until is not None:
        clauses.append(f"{TIME} <= %s")
        params.append(f.until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class AuditLog(Queries):
    """Reads the events table of an application (`marid_events`)."""

    def __init__(self, datastore: PostgresDatastore, table: str) -> None:
        super().__init__(datastore)
        self.table = table

    def newest(self, f: AuditFilter, limit: int, offset: int = 0) -> list[AuditEvent]:
        """Matching events, newest first."""
        condition, params = where(f)
        sql = (
            f"SELECT {COLUMNS} FROM {self.table}{condition} "
            "ORDER BY notification_id DESC LIMIT %s OFFSET %s"
        )
        return [event_from(r) for r in self.fetch_all(sql, [*params, limit, offset])]

    def after(self, f: AuditFilter, notification_id: int, limit: int) -> list[AuditEvent]:
        """Matching events after a position, oldest first (to follow the log)."""
        condition, params = where(f)
        joiner = " AND " if condition else " WHERE "
        sql = (
            f"SELECT {COLUMNS} FROM {self.table}{condition}{joiner}notification_id > %s "
            "ORDER BY notification_id LIMIT %s"
        )
        return [event_from(r) for r in self.fetch_all(sql, [*params, notification_id, limit])]

    def count_matching(self, f: AuditFilter) -> int:
        condition, params = where(f)
        return self.count(f"SELECT count(*) AS count FROM {self.table}{condition}", params)

    def head(self) -> int:
        row = self.fetch_one(f"SELECT max(notification_id) AS head FROM {self.table}")
        return int(row["head"] or 0) if row else 0

    def history(self, originator_id: UUID) -> list[AuditEvent]:
        """Every event of one aggregate, oldest first."""
        sql = (
            f"SELECT {COLUMNS} FROM {self.table} WHERE originator_id = %s "
            "ORDER BY originator_version"
        )
        return [event_from(r) for r in self.fetch_all(sql, (originator_id,))]

    def last_at(self, originator_id: UUID, at: datetime) -> AuditEvent | None:
        """The aggregate's last event recorded at or before `at` (its version then)."""
        sql = (
            f"SELECT {COLUMNS} FROM {self.table} WHERE originator_id = %s AND {TIME} <= %s "
            "ORDER BY originator_version DESC LIMIT 1"
        )
        row = self.fetch_one(sql, (originator_id, at))
        return None if row is None else event_from(row)

    def created_where(self, kind: str, matches: dict[str, Any]) -> UUID | None:
        """The newest resource of `kind` whose creation event has these fields (for
        addresses by name, which a deleted resource no longer holds in an index)."""
        conditions = "".join(f" AND {STATE} ->> %s = %s" for _ in matches)
        params: list[Any] = [TOPIC_PREFIXES[kind]]
        for key, value in matches.items():
            params += [key, str(value)]
        sql = (
            f"SELECT originator_id FROM {self.table} WHERE originator_version = 1 "
            f"AND starts_with(topic, %s){conditions} ORDER BY notification_id DESC LIMIT 1"
        )
        row = self.fetch_one(sql, params)
        return None if row is None else row["originator_id"]

    def subjects(self, originator_ids: Iterable[UUID]) -> dict[UUID, Subject]:
        """What each aggregate is, from its creation event (one query for them all)."""
        ids = list(set(originator_ids))
        if not ids:
            return {}
        sql = (
            f"SELECT {COLUMNS} FROM {self.table} "
            "WHERE originator_id = ANY(%s) AND originator_version = 1"
        )
        return {
            e.originator_id: subject_of(e) for e in map(event_from, self.fetch_all(sql, (ids,)))
        }

    def usernames(self, user_ids: Iterable[int]) -> dict[int, str]:
        found = self.subjects(aggregate_id("user", i) for i in user_ids)
        return {int(s.id): str(s.label) for s in found.values() if s.kind == "user" and s.id}


LABELS = {
    "variable": "key",
    "key": "name",
    "object": "name",
    "image": "name",
    "cron": "name",
    "token": "name",
    "user": "username",
    "webhook": "payload_url",
}


def subject_of(created: AuditEvent) -> Subject:
    f = created.data
    kind = created.kind
    owner = f.get("owner_id", f.get("user_id"))
    if kind == "index":
        return Subject(kind, f"{f.get('kind')}:{f.get('key')}", None, None, f)
    if kind == "build-counter":
        return Subject(kind, owner, None, owner, f)
    label = f.get(LABELS.get(kind, ""))
    if kind == "namespace":
        label = f.get("path")
    elif kind == "build":
        label = str(f.get("number"))
    return Subject(kind, f.get("public_id"), None if label is None else str(label), owner, f)
