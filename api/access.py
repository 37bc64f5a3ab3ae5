"""Finding namespaces with the caller's visibility, in the CONTRACT's order of checks."""

from __future__ import annotations

from litestar.exceptions import NotFoundException

from api.auth import Caller, scope_error
from application.access import can_read_namespace
from infrastructure.bootstrap import Marid
from projections.rows import NamespaceRow


def decode_path(path: str) -> str:
    """Namespace paths travel through routing as one segment (see `api.app`)."""
    return path.replace(":", "/").strip("/")


def readable_namespace(
    marid: Marid, caller: Caller, username: str, path: str, *, read_scope: bool = True
) -> NamespaceRow:
    """The namespace if the caller may read it.

    Public namespaces need no token and no scope. Otherwise a signed-in caller needs
    `namespace:read` (403 without it, whether or not the namespace exists; write routes
    check their own scope instead), and a caller who may not see the namespace gets 404,
    so that existence is never revealed.
    """
    ns = marid.namespaces.get(username, decode_path(path))
    public = ns is not None and ns.visibility == "public"
    if (
        read_scope
        and caller.user is not None
        and not public
        and not caller.can("namespace", "read")
    ):
        raise scope_error("namespace", "read")
    if ns is None:
        raise NotFoundException()
    collaborators = [] if public else marid.namespaces.collaborator_ids(ns.root_id)
    if not can_read_namespace(ns.visibility, ns.user_id, collaborators, caller.id):
        raise NotFoundException()
    return ns
