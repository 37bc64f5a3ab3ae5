"""Crons: `/api/cron` and `/api/cron/{id}`, with the builds each cron created."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api import paging
from api.access import namespace_guard
from api.auth import Caller, scope_error
from api.controllers.builds import build_filters, listed
from api.render import api_base, iso, origin, settled
from api.resources import common_fields, readable_resource, resource_guard
from api.schemas.builds import BuildOut
from api.schemas.crons import CronCreate, CronOut, CronUpdate
from infrastructure.bootstrap import Marid
from projections.resources import ResourceRow

Req = Request[Any, Any, Any]
ONE = "/api/cron/{cron_id:int}"


def cron_out(base: str, row: ResourceRow) -> CronOut:
    f = row.fields
    return CronOut(
        name=f["name"],
        schedule=f["schedule"],
        timezone=f["timezone"],
        manifest=f["manifest"],
        prev_run=iso(f["prev_run"]),
        next_run=iso(f["next_run"]),
        last_error=f["last_error"],
        last_error_at=iso(f["last_error_at"]),
        **common_fields(base, row, f"{base}/cron/{f['id']}"),  # type: ignore[arg-type]
    )


def settled_cron(marid: Marid, request: Req, cron_id: int) -> CronOut:
    return cron_out(api_base(request), settled(marid.crons.get(cron_id)))


class CronController(Controller):
    tags = ["cron"]
    guards = [namespace_guard, resource_guard]

    @get("/api/cron", sync_to_thread=True, summary="Crons you can see")
    def list_crons(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> Response[list[CronOut]]:
        user = caller.require("cron", "read")
        page, per_page = paging.requested(request)
        rows, at = marid.crons.visible(user.id, request.query_params.get("search"), page, per_page)
        base = api_base(request)
        return Response([cron_out(base, r) for r in rows], headers=paging.headers(request, at))

    @post("/api/cron", sync_to_thread=True, summary="Create a cron", opt={"scope": "cron:write"})
    def create_cron(
        self,
        request: Req,
        data: JSONBody[CronCreate],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> CronOut:
        user = caller.signed_in()
        outcome = marid.app.create_cron(
            user.id,
            data.name,
            data.schedule,
            data.timezone,
            data.manifest,
            marid.settings.drivers,
            origin(request, user.id),
        )
        return settled_cron(marid, request, marid.settle(outcome))

    @get(ONE, sync_to_thread=True, summary="Get a cron")
    def get_cron(
        self,
        request: Req,
        cron_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> CronOut:
        row = readable_resource(marid, caller, marid.crons.get(cron_id), "cron")
        return cron_out(api_base(request), row)

    @get(ONE + "/builds", sync_to_thread=True, summary="The builds a cron created")
    def cron_builds(
        self,
        request: Req,
        cron_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> Response[list[BuildOut]]:
        if caller.user is not None and not caller.can("build", "read"):
            raise scope_error("build", "read")
        readable_resource(marid, caller, marid.crons.get(cron_id), "cron")
        page, per_page = paging.requested(request)
        rows, at = marid.cron_builds.for_cron(cron_id, build_filters(request), page, per_page)
        return listed(request, rows, at)

    @patch(
        ONE,
        sync_to_thread=True,
        summary="Change a cron",
        opt={"scope": "cron:write", "resource": "cron"},
    )
    def update_cron(
        self,
        request: Req,
        cron_id: FromPath[int],
        data: JSONBody[CronUpdate],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> CronOut:
        user = caller.signed_in()
        outcome = marid.app.update_cron(
            cron_id,
            user.id,
            data.name,
            data.schedule,
            data.timezone,
            data.manifest,
            marid.settings.drivers,
            origin(request, user.id),
        )
        return settled_cron(marid, request, marid.settle(outcome))

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete a cron (its builds stay)",
        opt={"scope": "cron:delete", "resource": "cron"},
    )
    def delete_cron(
        self,
        request: Req,
        cron_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> None:
        user = caller.signed_in()
        marid.settle(marid.app.delete_cron(cron_id, user.id, origin(request, user.id)))
