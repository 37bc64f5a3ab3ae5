"""The audit log's vocabulary: resource kinds, filters, times, and sealed secrets marked.

Reading the log is in `projections.audit_queries` (SQL on the events table); this module
is what the CLI and the API share to ask it questions and to show the answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.builds import Build, BuildCounter
from domain.crons import Cron
from domain.errors import DomainError
from domain.identity import aggregate_id
from domain.images import Image
from domain.index import Index
from domain.invites import Invite
from domain.keys import SshKey
from domain.namespaces import Namespace
from domain.objects import Object
from domain.tokens import Token
from domain.users import User
from domain.variables import Variable
from domain.webhooks import Webhook

# resource kind (as in `KIND:ID` and in `aggregate_id`) -> its aggregate class
KINDS: dict[str, type[Any]] = {
    "user": User,
    "token": Token,
    "namespace": Namespace,
    "variable": Variable,
    "key": SshKey,
    "image": Image,
    "object": Object,
    "build": Build,
    "cron": Cron,
    "invite": Invite,
    "webhook": Webhook,
    "build-counter": BuildCounter,
    "index": Index,
}
# Aggregates that only keep other aggregates consistent: hidden unless asked for.
BOOKKEEPING = ("index", "build-counter")
# The topic of each kind's events starts with this (`domain.variables:Variable.`).
TOPIC_PREFIXES = {kind: get_topic(cls) + "." for kind, cls in KINDS.items()}
KIND_OF_CLASS = {cls.__name__: kind for kind, cls in KINDS.items()}

EVENT_RE = re.compile(r"[A-Za-z]+(\.[A-Za-z]+)?")
RELATIVE_RE = re.compile(r"(\d+)([smhdw])")
RELATIVE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
ACTOR_RE = re.compile(r"(user:\d+|system:[^\s*]*\*?|[A-Za-z0-9.-]+)")


class AuditQueryError(DomainError, ValueError):
    """Raised when an audit filter or resource reference cannot be understood."""


@dataclass(frozen=True)
class ResourceRef:
    """`variable:12`, `namespace:admin/djinn`, `build:admin/3`, or a kind alone."""

    kind: str
    public_id: int | None = None
    owner: str | None = None  # the owner's username, with `path`
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> ResourceRef:
        kind, sep, rest = text.strip().partition(":")
        if kind not in KINDS:
            raise AuditQueryError(f"no such resource kind: {kind!r} (one of {', '.join(KINDS)})")
        if not sep:
            return cls(kind)
        if rest.isdigit():
            return cls(kind, public_id=int(rest))
        owner, slash, path = rest.partition("/")
        if kind in ("namespace", "build") and slash and owner and path:
            if kind == "build" and not path.isdigit():
                raise AuditQueryError(f"a build is build:ID or build:USER/NUMBER, not {text!r}")
            return cls(kind, owner=owner, path=path.strip("/"))
        raise AuditQueryError(
            f"bad resource {text!r}: use KIND:ID (or namespace:USER/PATH, build:USER/NUMBER)"
        )

    @property
    def aggregate_id(self) -> UUID | None:
        """The aggregate's id, when the public id says it (uuid5: no lookup)."""
        return None if self.public_id is None else aggregate_id(self.kind, self.public_id)

    def __str__(self) -> str:
        if self.public_id is not None:
            return f"{self.kind}:{self.public_id}"
        if self.owner is not None:
            return f"{self.kind}:{self.owner}/{self.path}"
        return self.kind


@dataclass(frozen=True)
class AuditFilter:
    """Which events to show; every field narrows (None: no condition)."""

    topic_prefix: str | None = None
    originator_id: UUID | None = None
    actor: str | None = None  # `user:3`, `system:cli`, or a prefix ending in `*`
    since: datetime | None = None
    until: datetime | None = None
    event: str | None = None  # `Variable.Created` or `Created`
    request_id: str | None = None
    bookkeeping: bool = False  # include index and counter events

    def __post_init__(self) -> None:
        if self.event is not None and not EVENT_RE.fullmatch(self.event):
            raise AuditQueryError(f"bad event type {self.event!r}: e.g. Variable.Created")
        if self.since and self.until and self.since > self.until:
            raise AuditQueryError("since is later than until")


def parse_time(text: str, now: datetime) -> datetime:
    """An RFC 3339 time (a naive one is UTC), a date, or a span back from `now` (`2h`,
    `30m`, `7d`, `1d12h`)."""
    raw = text.strip()
    parts = RELATIVE_RE.findall(raw)
    if parts and "".join(n + u for n, u in parts) == raw:
        return now - timedelta(seconds=sum(int(n) * RELATIVE_UNITS[u] for n, u in parts))
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise AuditQueryError(
            f"not a time: {text!r} (RFC 3339 like 2026-12-01T12:00:00Z, or 2h, 30m, 7d)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def actor_condition(text: str, user_id_for: Callable[[str], int | None]) -> str:
    """The stored form of an actor: `user:<id>` for a username, `system:...` as given."""
    raw = text.strip()
    if not ACTOR_RE.fullmatch(raw):
        raise AuditQueryError(f"bad actor {text!r}: a username, user:ID or system:NAME")
    if raw.startswith(("system:", "user:")):
        return raw
    user_id = user_id_for(raw)
    if user_id is None:
        raise AuditQueryError(f"no such user: {raw}")
    return f"user:{user_id}"


# ---- secrets: marked, never opened


def sealed(value: str) -> dict[str, str]:
    """A secret as stored (ciphertext), marked so that no reader takes it for a value."""
    return {"sealed": value}


def _seal_field(fields: dict[str, Any], name: str, when: bool = True) -> None:
    value = fields.get(name)
    if when and isinstance(value, str):
        fields[name] = sealed(value)


def mark_sealed(class_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of an event or aggregate of `class_name`, secrets wrapped by `sealed`."""
    marked = dict(fields)
    if class_name == "Variable":
        _seal_field(marked, "value", bool(marked.get("masked")))
    elif class_name == "SshKey":
        _seal_field(marked, "key")
    elif class_name == "Webhook":
        _seal_field(marked, "secret")
    elif class_name == "Image":
        _seal_field(marked, "download_url")
    elif class_name == "Build":
        for name, field, masked_only in (("variables", "value", True), ("keys", "key", False)):
            items = marked.get(name)
            if isinstance(items, list):
                marked[name] = [_seal_item(i, field, masked_only) for i in items]
    return marked


def _seal_item(item: Any, field: str, masked_only: bool) -> Any:
    if not isinstance(item, dict):
        return item
    item = dict(item)
    _seal_field(item, field, bool(item.get("masked")) or not masked_only)
    return item
