"""Audit events with readable names: resource kind, public id, name and URL, usernames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from projections.audit_queries import AuditEvent, AuditLog, Subject

# kind -> path of a resource under the API base, for those addressed by id
BY_ID = {
    "variable": "variables",
    "key": "keys",
    "object": "objects",
    "image": "images",
    "invite": "invites",
    "cron": "cron",
}


@dataclass(frozen=True)
class Resource:
    kind: str
    id: int | str | None
    name: str | None
    url: str | None

    def __str__(self) -> str:
        ref = self.kind if self.id is None else f"{self.kind}:{self.id}"
        return ref if self.name is None else f"{ref} {self.name}"


@dataclass(frozen=True)
class AuditEntry:
    event: AuditEvent
    resource: Resource
    actor: str | None  # a username, or `system:...`

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "id": e.id,
            "time": e.time.isoformat().replace("+00:00", "Z"),
            "event": e.event,
            "resource": {
                "kind": self.resource.kind,
                "id": self.resource.id,
                "name": self.resource.name,
                "url": self.resource.url,
            },
            "actor": self.actor,
            "request_id": e.request_id,
            "data": e.data,
        }


def user_id_of(actor: str | None) -> int | None:
    if actor and actor.startswith("user:") and actor[5:].isdigit():
        return int(actor[5:])
    return None


def describe(log: AuditLog, events: Sequence[AuditEvent], base: str) -> list[AuditEntry]:
    """Name the events' resources and actors: two queries, whatever the number of events."""
    subjects = log.subjects(e.originator_id for e in events)
    user_ids = {user_id_of(e.actor) for e in events}
    user_ids |= {s.owner_id for s in subjects.values() if s.kind in ("namespace", "build")}
    names = log.usernames(i for i in user_ids if i is not None)
    entries = []
    for e in events:
        subject = subjects.get(e.originator_id)
        user_id = user_id_of(e.actor)
        actor = names.get(user_id, e.actor) if user_id is not None else e.actor
        entries.append(AuditEntry(e, resource(e.kind, subject, names, base), actor))
    return entries


def resource(kind: str, subject: Subject | None, names: dict[int, str], base: str) -> Resource:
    if subject is None:
        return Resource(kind, None, None, None)
    name, url = subject.label, None
    if kind in BY_ID and subject.id is not None:
        url = f"{base}/{BY_ID[kind]}/{subject.id}"
    elif kind in ("namespace", "build") and subject.owner_id in names:
        owner = names[subject.owner_id or 0]
        name = f"{owner}/{subject.label}"
        url = f"{base}/{'n' if kind == 'namespace' else 'b'}/{name}"
    return Resource(kind, subject.id, name, url)
