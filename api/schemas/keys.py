"""SSH key shapes. The private key goes in, and never comes out."""

from __future__ import annotations

import msgspec

from api.schemas.namespaces import NamespaceOut
from api.schemas.patch import Patch
from api.schemas.users import UserOut


class KeyCreate(msgspec.Struct):
    name: str | None = None
    key: str | None = None
    config: str | None = None
    namespace: str | None = None


class KeyUpdate(KeyCreate, Patch):
    """Only `config` changes; `name`, `key` and `namespace` are accepted unchanged."""


class KeyOut(msgspec.Struct):
    id: int
    author_id: int
    user_id: int
    namespace_id: int | None
    name: str
    config: str
    created_at: str | None
    updated_at: str | None
    url: str
    author: UserOut
    user: UserOut
    namespace: NamespaceOut | None
