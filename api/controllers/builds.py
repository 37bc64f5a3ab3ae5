"""Builds: `/api/builds`, `/api/b/{user}/{number}` (kill, pin), and the lists of builds
of a namespace and of an object. Their sub-resources are in `api.controllers.build_parts`.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, JSONBody

from api import paging
from api.access import namespace_guard
from api.auth import Caller, scope_error
from api.render import api_base, iso, namespace_out, origin, settled, user_out
from api.resources import readable_resource
from api.schemas.builds import BuildCreate, BuildOut
from application.access import can_read_namespace
from domain.builds import STATUSES
from domain.errors import ValidationError
from infrastructure.bootstrap import Marid
from projections.build_rows import BuildRow
from projections.builds import BuildFilters
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
FALSE = frozenset({"false", "0", "no", "off"})


def readable_build(
    marid: Marid, caller: Caller, row: BuildRow | None, *, read_scope: bool = True
) -> BuildRow:
    """The build if the caller may read it; else 403 (scope) or 404 (never revealing it).

    A build in a public namespace needs no token and no scope; one without a namespace is
    its owner's alone; otherwise its namespace's read rules apply, plus `build:read`.
    """
    public = row is not None and row.namespace is not None and row.namespace.visibility == "public"
    if read_scope and caller.user is not None and not public and not caller.can("build", "read"):
        raise scope_error("build", "read")
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


async def build_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
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
    marid: Marid = connection.app.state.marid
    if mode == "item" and caller.user is not None and not caller.can("build", "read"):
        raise scope_error("build", "read")
    username, number = connection.path_params["user"], int(connection.path_params["number"])
    connection.scope["state"]["build"] = await anyio.to_thread.run_sync(
        lambda: readable_build(
            marid, caller, marid.builds.get(username, number), read_scope=mode != "write"
        )
    )


def provide_build(request: Req) -> BuildRow:
    """The build that `build_guard` found."""
    row: BuildRow = request.scope["state"]["build"]
    return row


BUILD_DEPENDENCIES = {"build_row": Provide(provide_build, sync_to_thread=False)}


def build_url(base: str, row: BuildRow) -> str:
    return f"{base}/b/{row.user.username}/{row.number}"


def build_out(base: str, row: BuildRow) -> BuildOut:
    url = build_url(base, row)
    return BuildOut(
        id=row.id,
        user_id=row.user_id,
        namespace_id=row.namespace_id,
        number=row.number,
        manifest=row.manifest,
        status=row.status,
        output=row.output,
        tags=sorted(row.tags),
        pinned=row.pinned,
        created_at=iso(row.created_at),
        started_at=iso(row.started_at),
        finished_at=iso(row.finished_at),
        url=url,
        objects_url=f"{url}/objects",
        variables_url=f"{url}/variables",
        keys_url=f"{url}/keys",
        jobs_url=f"{url}/jobs",
        artifacts_url=f"{url}/artifacts",
        tags_url=f"{url}/tags",
        trigger=row.trigger,
        user=user_out(row.user),
        namespace=namespace_out(base, row.namespace) if row.namespace is not None else None,
    )


def valid_status(request: Req) -> str | None:
    """The `status` filter; an unknown status is a 400 naming it."""
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValidationError({"status": [f"Status must be one of {', '.join(STATUSES)}"]})
    return status


def build_filters(request: Req) -> BuildFilters:
    """`tag`, `search`, `status` and `pinned` (present, unless false, 0, no or off)."""
    pinned = request.query_params.get("pinned")
    return BuildFilters(
        tag=request.query_params.get("tag") or None,
        search=request.query_params.get("search") or None,
        status=valid_status(request),
        pinned=pinned is not None and pinned.strip().lower() not in FALSE,
    )


def listed(request: Req, rows: list[BuildRow], at: Any) -> Response[list[BuildOut]]:
    base = api_base(request)
    return Response([build_out(base, r) for r in rows], headers=paging.headers(request, at))


IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key(request: Req) -> str | None:
    """The request's `Idempotency-Key`: 1 to 255 visible ASCII characters, or None."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ClientException("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return key


class BuildController(Controller):
    tags = ["builds"]
    guards = [namespace_guard, build_guard]
    dependencies = BUILD_DEPENDENCIES

    @get("/api/builds", sync_to_thread=True, summary="Builds you can see")
    def list_builds(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> Response[list[BuildOut]]:
        user = caller.require("build", "read")
        page, per_page = paging.requested(request)
        rows, at = marid.builds.visible(user.id, build_filters(request), page, per_page)
        return listed(request, rows, at)

    @post(
        "/api/builds",
        sync_to_thread=True,
        summary="Submit a build",
        opt={"scope": "build:write"},
    )
    def submit_build(
        self,
        request: Req,
        data: JSONBody[BuildCreate],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> BuildOut:
        """Honours `Idempotency-Key`: a repeat within 24 hours answers with the first build."""
        user = caller.signed_in()
        outcome = marid.app.submit_build(
            user.id,
            data.manifest,
            data.comment,
            data.tags,
            marid.settings.drivers,
            marid.build_inputs,
            origin(request, user.id),
            idempotency_key=idempotency_key(request),
        )
        # A repeated key wrote nothing: its build is the first request's, maybe still on
        # its way to the read model.
        if outcome.recordings:
            build_id = marid.settle(outcome)
        else:
            build_id = marid.settle_committed(outcome, "builds")
        return build_out(api_base(request), settled(marid.builds.get_by_id(build_id)))

    @get(
        "/api/b/{user:str}/{number:int}",
        sync_to_thread=True,
        summary="Get a build",
        opt={"build": "read"},
    )
    def get_build(
        self, request: Req, caller: NamedDependency[Caller], build_row: NamedDependency[BuildRow]
    ) -> BuildOut:
        return build_out(api_base(request), build_row)

    @delete(
        "/api/b/{user:str}/{number:int}",
        sync_to_thread=True,
        summary="Kill a build: a queued one now, a running one by its worker",
        opt={"scope": "build:delete", "build": "write"},
    )
    def kill_build(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> None:
        user = caller.signed_in()
        marid.settle(marid.app.kill_build(build_row.id, user.id, origin(request, user.id)))

    @patch(
        "/api/b/{user:str}/{number:int}/pin",
        sync_to_thread=True,
        summary="Pin a build",
        opt={"scope": "build:write", "build": "write"},
    )
    def pin_build(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> BuildOut:
        return self._pin(request, marid, caller, build_row, pinned=True)

    @patch(
        "/api/b/{user:str}/{number:int}/unpin",
        sync_to_thread=True,
        summary="Unpin a build",
        opt={"scope": "build:write", "build": "write"},
    )
    def unpin_build(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> BuildOut:
        return self._pin(request, marid, caller, build_row, pinned=False)

    @staticmethod
    def _pin(
        request: Req, marid: Marid, caller: Caller, row: BuildRow, *, pinned: bool
    ) -> BuildOut:
        user = caller.signed_in()
        marid.settle(marid.app.pin_build(row.id, user.id, pinned, origin(request, user.id)))
        return build_out(api_base(request), settled(marid.builds.get_by_id(row.id)))

    @get(
        "/api/n/{user:str}/{path:str}/-/builds",
        sync_to_thread=True,
        summary="A namespace's builds",
        opt={"namespace": "read"},
    )
    def namespace_builds(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> Response[list[BuildOut]]:
        page, per_page = paging.requested(request)
        filters = build_filters(request)
        rows, at = marid.builds.in_namespace(namespace_row.id, filters, page, per_page)
        return listed(request, rows, at)

    @get(
        "/api/objects/{object_id:int}/builds",
        sync_to_thread=True,
        summary="The builds an object was attached to",
    )
    def object_builds(
        self,
        request: Req,
        object_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> Response[list[BuildOut]]:
        if caller.user is not None and not caller.can("build", "read"):
            raise scope_error("build", "read")
        readable_resource(marid, caller, marid.objects.get(object_id), "object")
        page, per_page = paging.requested(request)
        rows, at = marid.builds.for_object(object_id, build_filters(request), page, per_page)
        return listed(request, rows, at)
