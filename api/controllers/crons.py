"""Crons: `/api/cron` and `/api/cron/{id}`, with the builds each cron created."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from api.access import namespace_guard, resource_guard
from api.auth import Actor, Caller
from api.controllers.builds import resource_builds
from api.deps import Injected, Settle
from api.render import api_base
from api.resources import Namespaced, resource_out
from api.schemas.builds import BuildOut
from api.schemas.crons import CronCreate, CronOut, CronUpdate
from application.crons import CronCases
from infrastructure.settings import Settings
from projections.crons import CronBuildQueries, CronQueries
from projections.namespace_queries import NamespaceQueries
from projections.resources import ResourceRow

Req = Request[Any, Any, Any]
ONE = "/api/cron/{cron_id:int}"
Schedule = tuple[str | None, str | None, str | None, str | None]


def cron_out(base: str, row: ResourceRow) -> CronOut:
    return resource_out(CronOut, base, row, "cron")


CRONS = Namespaced("cron", cron_out)


def schedule_of(data: CronCreate | CronUpdate) -> Schedule:
    """What a create or update says: name, schedule, timezone, manifest."""
    return data.name, data.schedule, data.timezone, data.manifest


class CronController(Controller):
    tags = ["cron"]
    guards = [namespace_guard, resource_guard]

    @get("/api/cron", sync_to_thread=True, summary="Crons you can see")
    def list_crons(
        self, request: Req, caller: Injected[Caller], crons: Injected[CronQueries]
    ) -> Response[list[CronOut]]:
        return CRONS.visible(request, caller, crons)

    @post("/api/cron", sync_to_thread=True, summary="Create a cron", opt={"scope": "cron:write"})
    def create_cron(
        self,
        request: Req,
        data: JSONBody[CronCreate],
        actor: Injected[Actor],
        cron_cases: Injected[CronCases],
        settings: Injected[Settings],
        settle: Injected[Settle],
        crons: Injected[CronQueries],
    ) -> CronOut:
        drivers = settings.drivers
        outcome = cron_cases.create_cron(actor.id, *schedule_of(data), drivers, actor.origin)
        return CRONS.one(request, crons.get(settle(outcome)))

    @get(ONE, sync_to_thread=True, summary="Get a cron", opt={"resource": "cron"})
    def get_cron(self, request: Req, resource_row: Injected[ResourceRow]) -> CronOut:
        return cron_out(api_base(request), resource_row)

    @get(ONE + "/builds", sync_to_thread=True, summary="The builds a cron created")
    def cron_builds(
        self,
        request: Req,
        cron_id: FromPath[int],
        caller: Injected[Caller],
        namespaces: Injected[NamespaceQueries],
        crons: Injected[CronQueries],
        cron_builds: Injected[CronBuildQueries],
    ) -> Response[list[BuildOut]]:
        row = crons.get(cron_id)
        return resource_builds(request, caller, namespaces, row, "cron", cron_builds.for_cron)

    @patch(
        ONE,
        sync_to_thread=True,
        summary="Change a cron",
        opt={"scope": "cron:write", "resource": "cron"},
    )
    def update_cron(
        self,
        request: Req,
        data: JSONBody[CronUpdate],
        actor: Injected[Actor],
        resource_row: Injected[ResourceRow],
        cron_cases: Injected[CronCases],
        settings: Injected[Settings],
        settle: Injected[Settle],
        crons: Injected[CronQueries],
    ) -> CronOut:
        schedule, drivers = schedule_of(data), settings.drivers
        outcome = cron_cases.update_cron(
            resource_row.id, actor.id, *schedule, drivers, actor.origin
        )
        return CRONS.one(request, crons.get(settle(outcome)))

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete a cron (its builds stay)",
        opt={"scope": "cron:delete", "resource": "cron"},
    )
    def delete_cron(
        self,
        actor: Injected[Actor],
        resource_row: Injected[ResourceRow],
        cron_cases: Injected[CronCases],
        settle: Injected[Settle],
    ) -> None:
        settle(cron_cases.delete_cron(resource_row.id, actor.id, actor.origin))
