"""Builds: `/api/builds`, `/api/b/{user}/{number}` (kill, pin), and the lists of builds
of a namespace and of an object. Their sub-resources are in `api.controllers.build_parts`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.exceptions import ClientException
from litestar.params import FromPath, JSONBody

from api import paging
from api.access import build_guard, namespace_guard, readable
from api.auth import Actor, Caller, scope_error
from api.deps import Injected, Settle, SettleCommitted
from api.render import api_base, found
from api.render_builds import build_out
from api.schemas.builds import BuildCreate, BuildOut
from application.builds import BuildCases
from application.ports import BuildInputs
from domain.builds import STATUSES
from domain.errors import ValidationError
from infrastructure.settings import Settings
from projections.build_rows import BuildRow
from projections.builds import BuildFilters, BuildQueries
from projections.namespace_queries import NamespaceQueries
from projections.resources import ResourceQueries, ResourceRow
from projections.rows import NamespaceRow, Page

Req = Request[Any, Any, Any]
FALSE = frozenset({"false", "0", "no", "off"})
ONE = "/api/b/{user:str}/{number:int}"
WRITE = {"scope": "build:write", "build": "write"}
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
BuildsOf = Callable[[int, BuildFilters, int, int], tuple[list[BuildRow], Page]]


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


def builds_page(request: Req, builds_of: BuildsOf, owner_id: int) -> Response[list[BuildOut]]:
    """A page of the builds `builds_of(owner_id, filters, page, per_page)` lists."""
    return paging.paged(request, partial(builds_of, owner_id, build_filters(request)), build_out)


def resource_builds(
    request: Req,
    caller: Caller,
    namespaces: NamespaceQueries,
    row: ResourceRow | None,
    kind: str,
    builds_of: BuildsOf,
) -> Response[list[BuildOut]]:
    """The builds of a resource (a cron's, an object's): `build:read` (403 before anything
    about the resource), then the resource's read rules, then the list."""
    if caller.user is not None and not caller.can("build", "read"):
        raise scope_error("build", "read")
    resource = readable(namespaces, caller, row, kind)
    return builds_page(request, builds_of, resource.id)


def idempotency_key(request: Req) -> str | None:
    """The request's `Idempotency-Key`: 1 to 255 visible ASCII characters, or None."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ClientException("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return key


Pin = Callable[[bool], BuildOut]


def provide_pin(
    request: Req,
    actor: Injected[Actor],
    build_row: Injected[BuildRow],
    build_cases: Injected[BuildCases],
    settle: Injected[Settle],
    builds: Injected[BuildQueries],
) -> Pin:
    """Pinning or unpinning the addressed build: the build as it is then."""

    def pin(pinned: bool) -> BuildOut:
        settle(build_cases.pin_build(build_row.id, actor.id, pinned, actor.origin))
        return build_out(api_base(request), found(builds.get_by_id(build_row.id)))

    return pin


class BuildController(Controller):
    tags = ["builds"]
    guards = [namespace_guard, build_guard]
    dependencies = {"pin": Provide(provide_pin, sync_to_thread=False)}

    @get("/api/builds", sync_to_thread=True, summary="Builds you can see")
    def list_builds(
        self, request: Req, caller: Injected[Caller], builds: Injected[BuildQueries]
    ) -> Response[list[BuildOut]]:
        user = caller.require("build", "read")
        return builds_page(request, builds.visible, user.id)

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
        actor: Injected[Actor],
        build_cases: Injected[BuildCases],
        build_inputs: Injected[BuildInputs],
        settings: Injected[Settings],
        settle: Injected[Settle],
        settle_committed: Injected[SettleCommitted],
        builds: Injected[BuildQueries],
    ) -> BuildOut:
        """Honours `Idempotency-Key`: a repeat within 24 hours answers with the first build."""
        outcome = build_cases.submit_build(
            actor.id,
            data.manifest,
            data.comment,
            data.tags,
            settings.drivers,
            build_inputs,
            actor.origin,
            idempotency_key=idempotency_key(request),
        )
        # A repeated key wrote nothing: its build is the first request's, maybe still on
        # its way to the read model.
        fresh = bool(outcome.recordings)
        build_id = settle(outcome) if fresh else settle_committed(outcome, "builds")
        return build_out(api_base(request), found(builds.get_by_id(build_id)))

    @get(ONE, sync_to_thread=True, summary="Get a build", opt={"build": "read"})
    def get_build(self, request: Req, build_row: Injected[BuildRow]) -> BuildOut:
        return build_out(api_base(request), build_row)

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Kill a build: a queued one now, a running one by its worker",
        opt={"scope": "build:delete", "build": "write"},
    )
    def kill_build(
        self,
        actor: Injected[Actor],
        build_row: Injected[BuildRow],
        build_cases: Injected[BuildCases],
        settle: Injected[Settle],
    ) -> None:
        settle(build_cases.kill_build(build_row.id, actor.id, actor.origin))

    @patch(ONE + "/pin", sync_to_thread=True, summary="Pin a build", opt=WRITE)
    def pin_build(self, pin: Injected[Pin]) -> BuildOut:
        return pin(True)

    @patch(ONE + "/unpin", sync_to_thread=True, summary="Unpin a build", opt=WRITE)
    def unpin_build(self, pin: Injected[Pin]) -> BuildOut:
        return pin(False)

    @get(
        "/api/n/{user:str}/{path:str}/-/builds",
        sync_to_thread=True,
        summary="A namespace's builds",
        opt={"namespace": "read"},
    )
    def namespace_builds(
        self, request: Req, namespace_row: Injected[NamespaceRow], builds: Injected[BuildQueries]
    ) -> Response[list[BuildOut]]:
        return builds_page(request, builds.in_namespace, namespace_row.id)

    @get(
        "/api/objects/{object_id:int}/builds",
        sync_to_thread=True,
        summary="The builds an object was attached to",
    )
    def object_builds(
        self,
        request: Req,
        object_id: FromPath[int],
        caller: Injected[Caller],
        namespaces: Injected[NamespaceQueries],
        objects: Injected[ResourceQueries],
        builds: Injected[BuildQueries],
    ) -> Response[list[BuildOut]]:
        row = objects.get(object_id)
        return resource_builds(request, caller, namespaces, row, "object", builds.for_object)
