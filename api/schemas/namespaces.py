"""Namespace shapes. Request fields are all optional so that every rule is checked together."""

from __future__ import annotations

from typing import Any

import msgspec

from api.schemas.patch import Patch
from api.schemas.users import UserOut


class NamespaceCreate(msgspec.Struct):
    name: str | None = None
    parent: str | None = None
    description: str | None = None
    visibility: str | None = None


class NamespaceUpdate(NamespaceCreate, Patch):
    """Only the fields sent change; `name` and `parent` are accepted only unchanged."""


class NamespaceOut(msgspec.Struct):
    id: int
    user_id: int
    root_id: int
    parent_id: int | None
    name: str
    path: str
    description: str
    visibility: str
    created_at: str | None
    url: str
    builds_url: str
    namespaces_url: str
    images_url: str
    objects_url: str
    variables_url: str
    keys_url: str
    invites_url: str
    collaborators_url: str
    webhooks_url: str
    user: UserOut
    build: dict[str, Any] | None
    parent: NamespaceOut | None
