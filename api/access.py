"""Finding what a route addresses as the caller may see it, in the CONTRACT's order of
checks: a namespace, a resource (variable, key, object, image, cron) or a build.

Guards find it before the body is read, so that 401, 403 and 404 come before any 400
about the body, and keep it for the handler (`namespace_row`, `resource_row`, `build_row`).
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import anyio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler

from api.auth import SAFE_METHODS, Caller, scope_error
from application.access import can_read_namespace
from projections.build_rows import BuildRow
from projections.namespace_queries import NamespaceQueries
from projections.resources import ResourceRow
from projections.rows import NamespaceRow

Connection = ASGIConnection[Any, Any, Any, Any]
Req = Request[Any, Any, Any]


class Owned(Protocol):
    """A row that belongs to an owner and perhaps to a namespace (a resource, a build)."""

    @property
    def user_id(self) -> int: ...

    @property
    def namespace(self) -> NamespaceRow | None: ...


RowT = TypeVar("RowT", bound=Owned)


def decode_path(path: str) -> str:
    """Namespace paths travel through routing as one segment (see `api.app`)."""
    return path.replace(":", "/").strip("/")


def may_read(namespaces: NamespaceQueries, ns: NamespaceRow, caller: Caller) -> bool:
    """The namespace read rules: public, or its tree's owner or a collaborator."""
    public = ns.visibility == "public"
    collaborators = [] if public else namespaces.collaborator_ids(ns.root_id)
    return can_read_namespace(ns.visibility, ns.user_id, collaborators, caller.id)


def readable_namespace(
    namespaces: NamespaceQueries,
    caller: Caller,
    username: str,
    path: str,
    *,
    read_scope: bool = True,
) -> NamespaceRow:
    """The namespace if the caller may read it.

    Public namespaces need no token and no scope. Otherwise a signed-in caller needs
    `namespace:read` (403 without it, whether or not the namespace exists; write routes
    check their own scope instead), and a caller who may not see the namespace gets 404,
    so that existence is never revealed.
    """
    ns = namespaces.get(username, decode_path(path))
    public = ns is not None and ns.visibility == "public"
    if (
        read_scope
        and not public
        and caller.user is not None
        and not caller.can("namespace", "read")
    ):
        raise scope_error("namespace", "read")
    if ns is None or not may_read(namespaces, ns, caller):
        raise NotFoundException()
    return ns


def readable(
    namespaces: NamespaceQueries,
    caller: Caller,
    row: RowT | None,
    kind: str,
    *,
    read_scope: bool = True,
) -> RowT:
    """The row if the caller may read it; else 403 (scope) or 404 (never revealing it).

    In a public namespace anyone may read it without a token. Without a namespace only its
    owner may. Otherwise the namespace's read rules apply, plus `<kind>:read` unless
    `read_scope` is false (write routes check their own scope).
    """
    ns = None if row is None else row.namespace
    public = ns is not None and ns.visibility == "public"
    if read_scope and not public and caller.user is not None and not caller.can(kind, "read"):
        raise scope_error(kind, "read")
    if row is None:
        raise NotFoundException()
    if ns is None:
        if caller.id != row.user_id:
            raise NotFoundException()
    elif not may_read(namespaces, ns, caller):
        raise NotFoundException()
    return row


async def namespace_guard(connection: Connection, handler: BaseRouteHandler) -> None:
    """Guard of `/api/n/{user}/{path}` routes: find the namespace before the body is read.

    `opt={"namespace": "read"}` applies the read rules (with `namespace:read` for
    non-public namespaces); `"write"` finds it for a write route, whose own scope was
    checked by `authenticate`. Either way 404 comes before any 400 about the body.
    """
    mode = handler.opt.get("namespace")
    if mode is None:
        return
    caller: Caller = connection.scope["state"]["caller"]
    namespaces: NamespaceQueries = connection.app.state.marid.namespaces
    user, path = connection.path_params["user"], connection.path_params["path"]
    ns = await anyio.to_thread.run_sync(
        lambda: readable_namespace(namespaces, caller, user, path, read_scope=mode == "read")
    )
    connection.scope["state"]["namespace"] = ns


def provide_namespace(request: Req) -> NamespaceRow:
    """The namespace that `namespace_guard` found."""
    ns: NamespaceRow = request.scope["state"]["namespace"]
    return ns


# resource kind -> (query attribute of Marid, path parameter of its id)
ADDRESSED = {
    "variable": ("variables", "variable_id"),
    "key": ("keys", "key_id"),
    "object": ("objects", "object_id"),
    "image": ("images", "image_id"),
    "cron": ("crons", "cron_id"),
}


async def resource_guard(connection: Connection, handler: BaseRouteHandler) -> None:
    """Guard of routes on one resource (`opt={"resource": "key"}`).

    A read (GET) applies the read rules, with `<kind>:read`; a write only finds the
    resource (404 for a caller who cannot see it), its scope having been checked by
    `authenticate`, write access by the use case (422).
    """
    kind = handler.opt.get("resource")
    if kind is None:
        return
    attribute, parameter = ADDRESSED[kind]
    caller: Caller = connection.scope["state"]["caller"]
    marid = connection.app.state.marid
    queries, namespaces = getattr(marid, attribute), marid.namespaces
    resource_id = int(connection.path_params[parameter])
    read_scope = connection.scope.get("method") in SAFE_METHODS
    connection.scope["state"]["resource"] = await anyio.to_thread.run_sync(
        lambda: readable(namespaces, caller, queries.get(resource_id), kind, read_scope=read_scope)
    )


def provide_resource(request: Req) -> ResourceRow:
    """The resource that `resource_guard` found."""
    row: ResourceRow = request.scope["state"]["resource"]
    return row


async def build_guard(connection: Connection, handler: BaseRouteHandler) -> None:
    """Guard of `/api/b/{user}/{number}` routes: find the build before any body is read.

    `opt={"build": "read"}` applies the read rules (`build:read` unless public); `"item"`
    also wants `build:read` from a signed-in caller in a public namespace (the reference's
    scope of `/jobs/{name}`, `/artifacts/{name}`, `/tags/{name}`); `"write"` only finds the
    build (404 for a caller who cannot see it), its route's scope having been checked by
    `authenticate`, write access by the use case (422).
    """
    mode = handler.opt.get("build")
    if mode is None:
        return
    caller: Caller = connection.scope["state"]["caller"]
    marid = connection.app.state.marid
    builds, namespaces = marid.builds, marid.namespaces
    if mode == "item" and caller.user is not None and not caller.can("build", "read"):
        raise scope_error("build", "read")
    username, number = connection.path_params["user"], int(connection.path_params["number"])
    connection.scope["state"]["build"] = await anyio.to_thread.run_sync(
        lambda: readable(
            namespaces, caller, builds.get(username, number), "build", read_scope=mode != "write"
        )
    )


def provide_build(request: Req) -> BuildRow:
    """The build that `build_guard` found."""
    row: BuildRow = request.scope["state"]["build"]
    return row
