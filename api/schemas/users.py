"""User shapes."""

from __future__ import annotations

import msgspec


class UserOut(msgspec.Struct):
    """A user as nested in other resources and returned by `GET /api/user`."""

    id: int
    username: str
    email: str
    created_at: str | None


class CollaboratorOut(msgspec.Struct):
    """A collaborator of a namespace tree; `created_at` is when they were added."""

    id: int
    username: str
    email: str
    created_at: str | None
    url: str
