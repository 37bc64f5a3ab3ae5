"""Cron shapes."""

from __future__ import annotations

import msgspec

from api.schemas.namespaces import NamespaceOut
from api.schemas.patch import Patch
from api.schemas.users import UserOut


class CronCreate(msgspec.Struct):
    name: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    manifest: str | None = None


class CronUpdate(CronCreate, Patch):
    """Any of the fields; absent or empty ones keep their current values."""


class CronOut(msgspec.Struct):
    id: int
    author_id: int
    user_id: int
    namespace_id: int | None
    name: str
    schedule: str
    timezone: str
    manifest: str
    prev_run: str | None
    next_run: str | None
    last_error: str | None
    last_error_at: str | None
    created_at: str | None
    url: str
    author: UserOut
    user: UserOut
    namespace: NamespaceOut | None
