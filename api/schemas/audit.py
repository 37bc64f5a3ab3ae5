"""Audit log shapes: one event of the log, with readable names and sealed secrets."""

from __future__ import annotations

from typing import Any

import msgspec


class AuditResourceOut(msgspec.Struct):
    kind: str
    id: int | str | None
    name: str | None
    url: str | None


class AuditEventOut(msgspec.Struct):
    id: int  # the event's position in the log (its notification id)
    time: str
    event: str
    resource: AuditResourceOut
    actor: str | None  # a username, or `system:...`
    request_id: str | None
    data: dict[str, Any]  # the event's fields; a secret is `{"sealed": "<ciphertext>"}`
