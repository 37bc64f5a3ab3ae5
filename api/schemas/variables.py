"""Variable shapes."""

from __future__ import annotations

import msgspec

from api.schemas.namespaces import NamespaceOut
from api.schemas.users import UserOut


class VariableCreate(msgspec.Struct):
    key: str | None = None
    value: str | None = None
    mask: bool | None = None
    namespace: str | None = None


class VariableOut(msgspec.Struct):
    id: int
    author_id: int
    user_id: int
    namespace_id: int | None
    key: str
    value: str
    masked: bool
    created_at: str | None
    url: str
    author: UserOut
    user: UserOut
    namespace: NamespaceOut | None
