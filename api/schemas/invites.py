"""Invite shapes."""

from __future__ import annotations

import msgspec

from api.schemas.namespaces import NamespaceOut
from api.schemas.users import UserOut


class InviteCreate(msgspec.Struct):
    handle: str | None = None


class InviteOut(msgspec.Struct):
    """An invite; `namespace` is null in a namespace's own list (Djinn's shape)."""

    id: int
    namespace_id: int
    invitee_id: int
    inviter_id: int
    url: str
    invitee: UserOut
    inviter: UserOut
    namespace: NamespaceOut | None


class AcceptedOut(msgspec.Struct):
    """What accepting answers: the root joined, the invitee and the inviter."""

    namespace: NamespaceOut
    invitee: UserOut
    inviter: UserOut
