"""Namespace shapes. Request fields are all optional so that every rule is checked together."""

from __future__ import annotations

from typing import Any

import msgspec

from api.schemas.users import UserOut


class NamespaceCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    parent: str | None = None
    description: str | None = None
    visibility: str | None = None


class NamespaceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change; `name` is accepted only when it is unchanged."""

    name: str | None = None
    description: str | None = None
    visibility: str | None = None


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
