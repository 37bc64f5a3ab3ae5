"""A build's sub-resources: jobs, artifacts, tags, and what it snapshotted at submit time
(variables, keys, objects). Access is `api.access.build_guard`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import ClientException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath
from litestar.response import Stream

from api import paging
from api.access import build_guard
from api.auth import Actor
from api.build_output import (
    artifact_response,
    event_stream,
    last_event_id,
    text_response,
    wants_events,
)
from api.controllers.builds import valid_status
from api.deps import Injected, Settle
from api.errors import TOO_DEEP
from api.render import api_base, found
from api.render_builds import (
    artifact_out,
    build_key_out,
    build_object_out,
    build_out,
    build_variable_out,
    job_out,
    tag_out,
)
from api.schemas.builds import (
    ArtifactOut,
    BuildKeyOut,
    BuildObjectOut,
    BuildVariableOut,
    JobOut,
    TagOut,
)
from application.builds import BuildCases
from application.ports import BlobStore
from domain.objects import BINARY
from infrastructure.build_logs import BuildLogs
from projections.build_rows import BuildObjectRow, BuildRow
from projections.builds import BuildQueries
from projections.resources import ResourceQueries

Req = Request[Any, Any, Any]
TAGS_BODY = "Request body must be a JSON array of tag names"
READ, ITEM = {"build": "read"}, {"build": "item"}


def decode_tags(body: bytes) -> list[str]:
    """The body of `POST .../tags`: a bare JSON array of strings, else a 400 message."""
    try:
        names = msgspec.json.decode(body, type=list[str])
    except msgspec.ValidationError:
        raise ClientException(TAGS_BODY) from None
    except msgspec.DecodeError:
        empty = "Request body is empty, expected a JSON array of tag names"
        raise ClientException(
            empty if not body.strip() else "Request body is not valid JSON"
        ) from None
    except RecursionError:
        raise ClientException(TOO_DEEP) from None
    return names


@dataclass
class TagsOperation(Operation):
    """`POST .../tags` reads its body itself (a bare array), so Litestar cannot describe it."""

    def __post_init__(self) -> None:
        names = Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING))
        self.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=names)},
            description="Tag names: letters, digits, `-`, `_`, `.` and `/`; others are skipped.",
            required=True,
        )


class BuildPartsController(Controller):
    tags = ["builds"]
    guards = [build_guard]
    path = "/api/b/{user:str}/{number:int}"

    @get("/jobs", sync_to_thread=True, summary="A build's jobs", opt=READ)
    def list_jobs(
        self, request: Req, build_row: Injected[BuildRow], builds: Injected[BuildQueries]
    ) -> list[JobOut]:
        name = request.query_params.get("name") or None
        rows = builds.jobs(build_row.id, name=name, status=valid_status(request))
        build = build_out(api_base(request), build_row)
        return [job_out(build, r) for r in rows]

    @get("/jobs/{name:str}", sync_to_thread=True, summary="A job", opt=ITEM)
    def get_job(
        self,
        request: Req,
        name: FromPath[str],
        build_row: Injected[BuildRow],
        builds: Injected[BuildQueries],
    ) -> JobOut:
        row = found(builds.job(build_row.id, name))
        return job_out(build_out(api_base(request), build_row), row)

    @get(
        "/jobs/{name:str}/output",
        summary="A job's output so far: text (with ranges), or live with "
        "`Accept: text/event-stream`",
        opt=ITEM,
    )
    async def job_output(
        self,
        request: Req,
        name: FromPath[str],
        build_row: Injected[BuildRow],
        builds: Injected[BuildQueries],
        build_logs: Injected[BuildLogs],
    ) -> Response[bytes] | Stream:
        job_id = found(await anyio.to_thread.run_sync(builds.job_id, build_row.id, name))
        if wants_events(request):
            after = last_event_id(request)
            return event_stream(builds, build_logs, build_row.id, job_id, after)
        text = await anyio.to_thread.run_sync(build_logs.text, build_row.id, job_id)
        return text_response(text, request.headers.get("range"))

    @get("/artifacts", sync_to_thread=True, summary="A build's artifacts", opt=READ)
    def list_artifacts(
        self, request: Req, build_row: Injected[BuildRow], builds: Injected[BuildQueries]
    ) -> Response[list[ArtifactOut]]:
        search = request.query_params.get("search")
        build = build_out(api_base(request), build_row)
        fetch = partial(builds.artifacts, build_row.id, search)
        return paging.paged(request, fetch, lambda _, row: artifact_out(build, row))

    @get(
        "/artifacts/{name:path}",
        sync_to_thread=True,
        summary="An artifact (its file, with `Accept: application/octet-stream`, once collected)",
        opt=ITEM,
    )
    def get_artifact(
        self,
        request: Req,
        name: FromPath[str],
        build_row: Injected[BuildRow],
        builds: Injected[BuildQueries],
        blobs: Injected[BlobStore],
    ) -> ArtifactOut | Response[Any]:
        row = found(builds.artifact(build_row.id, name.removeprefix("/")))
        if request.headers.get("accept", "").strip() == BINARY:
            return artifact_response(blobs, row, request)
        return artifact_out(build_out(api_base(request), build_row), row)

    @get("/tags", sync_to_thread=True, summary="A build's tags", opt=READ)
    def list_tags(
        self, request: Req, build_row: Injected[BuildRow], builds: Injected[BuildQueries]
    ) -> list[TagOut]:
        build = build_out(api_base(request), build_row)
        return [tag_out(build, r) for r in builds.tags(build_row.id)]

    @post(
        "/tags",
        summary="Tag a build (the new tags are returned)",
        opt={"scope": "build:write", "build": "write"},
        operation_class=TagsOperation,
    )
    async def tag_build(
        self,
        request: Req,
        actor: Injected[Actor],
        build_row: Injected[BuildRow],
        build_cases: Injected[BuildCases],
        settle: Injected[Settle],
        builds: Injected[BuildQueries],
    ) -> list[TagOut]:
        names = decode_tags(await request.body())

        def tag() -> list[TagOut]:
            new = settle(build_cases.tag_build(build_row.id, actor.id, names, actor.origin))
            build = build_out(api_base(request), builds.get_by_id(build_row.id) or build_row)
            return [tag_out(build, r) for r in builds.tags(build_row.id) if r.name in new]

        return await anyio.to_thread.run_sync(tag)

    @get("/tags/{name:path}", sync_to_thread=True, summary="A tag", opt=ITEM)
    def get_tag(
        self,
        request: Req,
        name: FromPath[str],
        build_row: Injected[BuildRow],
        builds: Injected[BuildQueries],
    ) -> TagOut:
        row = found(builds.tag(build_row.id, name.removeprefix("/")))
        return tag_out(build_out(api_base(request), build_row), row)

    @delete(
        "/tags/{name:path}",
        sync_to_thread=True,
        summary="Remove a tag",
        opt={"scope": "build:delete", "build": "write"},
    )
    def delete_tag(
        self,
        name: FromPath[str],
        actor: Injected[Actor],
        build_row: Injected[BuildRow],
        build_cases: Injected[BuildCases],
        settle: Injected[Settle],
        builds: Injected[BuildQueries],
    ) -> None:
        name = name.removeprefix("/")
        found(builds.tag(build_row.id, name))  # 404 before a reader's 422
        settle(build_cases.untag_build(build_row.id, actor.id, name, actor.origin))

    @get("/variables", sync_to_thread=True, summary="A build's variables", opt=READ)
    def list_variables(
        self, request: Req, build_row: Injected[BuildRow], builds: Injected[BuildQueries]
    ) -> list[BuildVariableOut]:
        base = api_base(request)
        return [build_variable_out(base, r) for r in builds.variables(build_row.id)]

    @get("/keys", sync_to_thread=True, summary="A build's keys", opt=READ)
    def list_keys(
        self, request: Req, build_row: Injected[BuildRow], builds: Injected[BuildQueries]
    ) -> list[BuildKeyOut]:
        base = api_base(request)
        return [build_key_out(base, r) for r in builds.keys(build_row.id)]

    @get("/objects", sync_to_thread=True, summary="A build's objects", opt=READ)
    def list_objects(
        self,
        request: Req,
        build_row: Injected[BuildRow],
        builds: Injected[BuildQueries],
        objects: Injected[ResourceQueries],
    ) -> Response[list[BuildObjectOut]]:
        search = request.query_params.get("search")

        def render(base: str, row: BuildObjectRow) -> BuildObjectOut:
            return build_object_out(base, row, objects.get(row.object_id))

        return paging.paged(request, partial(builds.objects, build_row.id, search), render)
