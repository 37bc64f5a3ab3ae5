"""Access to namespaced resources addressed by id, in the CONTRACT's order of checks."""

from __future__ import annotations

from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler

from api.auth import Caller, scope_error
from api.render import iso, namespace_out, user_out
from application.access import can_read_namespace
from infrastructure.bootstrap import Marid
from projections.resources import ResourceRow


def readable_resource(
    marid: Marid, caller: Caller, row: ResourceRow | None, resource: str, *, read_scope: bool = True
) -> ResourceRow:
    """The resource if the caller may read it; else 403 (scope) or 404 (never revealing it).

    In a public namespace anyone may read it without a token. Without a namespace only its
    owner may. Otherwise the namespace's read rules apply, plus `<resource>:read`.
    """
    public = row is not None and row.namespace is not None and row.namespace.visibility == "public"
    if read_scope and caller.user is not None and not public and not caller.can(resource, "read"):
        raise scope_error(resource, "read")
    if row is None:
        raise NotFoundException()
    if row.namespace is None:
        if caller.id != row.user_id:
            raise NotFoundException()
        return row
    ns = row.namespace
    collaborators = [] if public else marid.namespaces.collaborator_ids(ns.root_id)
    if not can_read_namespace(ns.visibility, ns.user_id, collaborators, caller.id):
        raise NotFoundException()
    return row


def common_fields(base: str, row: ResourceRow, url: str) -> dict[str, object]:
    """The fields every namespaced resource's JSON has."""
    f = row.fields
    return {
        "id": f["id"],
        "author_id": f["author_id"],
        "user_id": f["user_id"],
        "namespace_id": f["namespace_id"],
        "created_at": iso(f.get("created_at")),
        "url": url,
        "author": user_out(row.author),
        "user": user_out(row.user),
        "namespace": namespace_out(base, row.namespace) if row.namespace is not None else None,
    }


# resource kind -> (query attribute of Marid, path parameter of its id)
ADDRESSED = {
    "variable": ("variables", "variable_id"),
    "key": ("keys", "key_id"),
    "object": ("objects", "object_id"),
    "image": ("images", "image_id"),
    "cron": ("crons", "cron_id"),
}


async def resource_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of write routes on one resource (`opt={"resource": "key"}`): 404 for a caller
    who cannot see it, before the body is read, so that it comes before any 400 about it.
    """
    kind = handler.opt.get("resource")
    if kind is None:
        return
    attribute, parameter = ADDRESSED[kind]
    caller: Caller = connection.scope["state"]["caller"]
    marid: Marid = connection.app.state.marid
    resource_id = int(connection.path_params[parameter])
    queries = getattr(marid, attribute)
    await anyio.to_thread.run_sync(
        lambda: readable_resource(marid, caller, queries.get(resource_id), kind, read_scope=False)
    )
