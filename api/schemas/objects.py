"""Object shapes. Objects are created from an upload (see `api.uploads`), not a JSON body."""

from __future__ import annotations

import msgspec

from api.schemas.namespaces import NamespaceOut
from api.schemas.users import UserOut


class ObjectOut(msgspec.Struct):
    id: int
    author_id: int
    user_id: int
    namespace_id: int | None
    name: str
    type: str
    size: int
    md5: str | None
    sha256: str | None
    created_at: str | None
    url: str
    builds_url: str
    author: UserOut
    user: UserOut
    namespace: NamespaceOut | None
