"""Finding namespaces with the caller's visibility, in the CONTRACT's order of checks."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler

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


async def namespace_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of `/api/n/{user}/{path}` routes: find the namespace before the body is read.

    `opt={"namespace": "read"}` applies the read rules (with `namespace:read` for
    non-public namespaces); `"write"` finds it for a write route, whose own scope was
    checked by `authenticate`. Either way 404 comes before any 400 about the body.
    """
    mode = handler.opt.get("namespace")
    if mode is None:
        return
    caller: Caller = connection.scope["state"]["caller"]
    marid: Marid = connection.app.state.marid
    user, path = connection.path_params["user"], connection.path_params["path"]
    ns = await anyio.to_thread.run_sync(
        lambda: readable_namespace(marid, caller, user, path, read_scope=mode == "read")
    )
    connection.scope["state"]["namespace"] = ns


def provide_namespace(request: Request[Any, Any, Any]) -> NamespaceRow:
    """The namespace that `namespace_guard` found."""
    ns: NamespaceRow = request.scope["state"]["namespace"]
    return ns
