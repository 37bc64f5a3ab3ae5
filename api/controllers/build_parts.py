"""A build's sub-resources: jobs, artifacts, tags, and what it snapshotted at submit time
(variables, keys, objects). Access is `api.controllers.builds.build_guard`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath
from litestar.response import Stream

from api import paging
from api.auth import Caller
from api.build_output import (
    artifact_response,
    event_stream,
    last_event_id,
    text_response,
    wants_events,
)
from api.controllers.builds import (
    BUILD_DEPENDENCIES,
    build_guard,
    build_out,
    valid_status,
)
from api.errors import TOO_DEEP
from api.render import api_base, iso, origin, user_out
from api.schemas.builds import (
    ArtifactOut,
    BuildKeyOut,
    BuildObjectOut,
    BuildOut,
    BuildVariableOut,
    JobOut,
    TagOut,
)
from domain.objects import BINARY
from domain.variables import MASKED_VALUE
from infrastructure.bootstrap import Marid
from projections.build_rows import (
    ArtifactRow,
    BuildKeyRow,
    BuildObjectRow,
    BuildRow,
    BuildVariableRow,
    JobRow,
    TagRow,
)

Req = Request[Any, Any, Any]
TAGS_BODY = "Request body must be a JSON array of tag names"


def job_out(build: BuildOut, row: JobRow) -> JobOut:
    return JobOut(
        id=row.id,
        build_id=row.build_id,
        name=row.name,
        stage=row.stage,
        commands=row.commands,
        status=row.status,
        output=row.output,
        created_at=iso(row.created_at),
        started_at=iso(row.started_at),
        finished_at=iso(row.finished_at),
        url=f"{build.url}/jobs/{row.name}",
        build=build,
    )


def artifact_out(build: BuildOut, row: ArtifactRow) -> ArtifactOut:
    return ArtifactOut(
        id=row.id,
        user_id=row.user_id,
        build_id=row.build_id,
        job_id=row.job_id,
        source=row.source,
        name=row.name,
        size=row.size,
        md5=row.md5 or None,
        sha256=row.sha256 or None,
        created_at=iso(row.created_at),
        deleted_at=iso(row.deleted_at),
        url=f"{build.url}/artifacts/{row.name}",
        user=None,
        build=build,
        job=None,
    )


def tag_out(build: BuildOut, row: TagRow) -> TagOut:
    return TagOut(
        id=row.id,
        user_id=row.user_id,
        build_id=row.build_id,
        name=row.name,
        created_at=iso(row.created_at),
        url=f"{build.url}/tags/{row.name}",
        user=user_out(row.user) if row.user is not None else None,
        build=build,
    )


def variable_out(base: str, row: BuildVariableRow) -> BuildVariableOut:
    return BuildVariableOut(
        id=row.id,
        build_id=row.build_id,
        variable_id=row.variable_id,
        key=row.key,
        value=MASKED_VALUE if row.masked else row.value,
        masked=row.masked,
        variable_url=None if row.variable_id is None else f"{base}/variables/{row.variable_id}",
    )


def key_out(base: str, row: BuildKeyRow) -> BuildKeyOut:
    return BuildKeyOut(
        id=row.id,
        build_id=row.build_id,
        key_id=row.key_id,
        name=row.name,
        config=row.config,
        location=row.location,
        key_url=None if row.key_id is None else f"{base}/keys/{row.key_id}",
    )


def object_out(marid: Marid, base: str, row: BuildObjectRow) -> BuildObjectOut:
    live = marid.objects.get(row.object_id)
    f: dict[str, Any] = live.fields if live is not None else {}
    url = f"{base}/objects/{row.object_id}"
    return BuildObjectOut(
        id=row.object_id,
        build_id=row.build_id,
        name=row.name,
        destination=row.destination,
        author_id=f.get("author_id"),
        user_id=f.get("user_id"),
        namespace_id=f.get("namespace_id"),
        type=f.get("type"),
        size=f.get("size"),
        md5=f.get("md5") or None,
        sha256=f.get("sha256") or None,
        created_at=iso(f.get("created_at")),
        url=url,
        builds_url=f"{url}/builds",
    )


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
    dependencies = BUILD_DEPENDENCIES
    path = "/api/b/{user:str}/{number:int}"

    @get("/jobs", sync_to_thread=True, summary="A build's jobs", opt={"build": "read"})
    def list_jobs(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> list[JobOut]:
        name = request.query_params.get("name") or None
        rows = marid.builds.jobs(build_row.id, name=name, status=valid_status(request))
        base = api_base(request)
        build = build_out(base, build_row)
        return [job_out(build, r) for r in rows]

    @get("/jobs/{name:str}", sync_to_thread=True, summary="A job", opt={"build": "item"})
    def get_job(
        self,
        request: Req,
        name: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> JobOut:
        row = marid.builds.job(build_row.id, name)
        if row is None:
            raise NotFoundException()
        base = api_base(request)
        return job_out(build_out(base, build_row), row)

    @get(
        "/jobs/{name:str}/output",
        summary="A job's output so far: text (with ranges), or live with "
        "`Accept: text/event-stream`",
        opt={"build": "item"},
    )
    async def job_output(
        self,
        request: Req,
        name: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> Response[bytes] | Stream:
        job_id = await anyio.to_thread.run_sync(marid.builds.job_id, build_row.id, name)
        if job_id is None:
            raise NotFoundException()
        if wants_events(request):
            return event_stream(marid, build_row.id, job_id, last_event_id(request))
        text = await anyio.to_thread.run_sync(marid.build_logs.text, build_row.id, job_id)
        return text_response(text, request.headers.get("range"))

    @get("/artifacts", sync_to_thread=True, summary="A build's artifacts", opt={"build": "read"})
    def list_artifacts(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> Response[list[ArtifactOut]]:
        page, per_page = paging.requested(request)
        search = request.query_params.get("search")
        rows, at = marid.builds.artifacts(build_row.id, search, page, per_page)
        build = build_out(api_base(request), build_row)
        return Response([artifact_out(build, r) for r in rows], headers=paging.headers(request, at))

    @get(
        "/artifacts/{name:path}",
        sync_to_thread=True,
        summary="An artifact (its file, with `Accept: application/octet-stream`, once collected)",
        opt={"build": "item"},
    )
    def get_artifact(
        self,
        request: Req,
        name: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> ArtifactOut | Response[Any]:
        row = marid.builds.artifact(build_row.id, name.removeprefix("/"))
        if row is None:
            raise NotFoundException()
        if request.headers.get("accept", "").strip() == BINARY:
            return artifact_response(marid, row, request)
        return artifact_out(build_out(api_base(request), build_row), row)

    @get("/tags", sync_to_thread=True, summary="A build's tags", opt={"build": "read"})
    def list_tags(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> list[TagOut]:
        build = build_out(api_base(request), build_row)
        return [tag_out(build, r) for r in marid.builds.tags(build_row.id)]

    @post(
        "/tags",
        summary="Tag a build (the new tags are returned)",
        opt={"scope": "build:write", "build": "write"},
        operation_class=TagsOperation,
    )
    async def tag_build(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> list[TagOut]:
        user = caller.signed_in()
        names = decode_tags(await request.body())

        def tag() -> list[TagOut]:
            outcome = marid.app.tag_build(build_row.id, user.id, names, origin(request, user.id))
            new: list[str] = marid.settle(outcome)
            build = build_out(api_base(request), marid.builds.get_by_id(build_row.id) or build_row)
            return [tag_out(build, r) for r in marid.builds.tags(build_row.id) if r.name in new]

        return await anyio.to_thread.run_sync(tag)

    @get("/tags/{name:path}", sync_to_thread=True, summary="A tag", opt={"build": "item"})
    def get_tag(
        self,
        request: Req,
        name: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> TagOut:
        row = marid.builds.tag(build_row.id, name.removeprefix("/"))
        if row is None:
            raise NotFoundException()
        return tag_out(build_out(api_base(request), build_row), row)

    @delete(
        "/tags/{name:path}",
        sync_to_thread=True,
        summary="Remove a tag",
        opt={"scope": "build:delete", "build": "write"},
    )
    def delete_tag(
        self,
        request: Req,
        name: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> None:
        user = caller.signed_in()
        name = name.removeprefix("/")
        if marid.builds.tag(build_row.id, name) is None:  # 404 before a reader's 422
            raise NotFoundException()
        outcome = marid.app.untag_build(build_row.id, user.id, name, origin(request, user.id))
        marid.settle(outcome)

    @get("/variables", sync_to_thread=True, summary="A build's variables", opt={"build": "read"})
    def list_variables(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> list[BuildVariableOut]:
        base = api_base(request)
        return [variable_out(base, r) for r in marid.builds.variables(build_row.id)]

    @get("/keys", sync_to_thread=True, summary="A build's keys", opt={"build": "read"})
    def list_keys(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> list[BuildKeyOut]:
        base = api_base(request)
        return [key_out(base, r) for r in marid.builds.keys(build_row.id)]

    @get("/objects", sync_to_thread=True, summary="A build's objects", opt={"build": "read"})
    def list_objects(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        build_row: NamedDependency[BuildRow],
    ) -> Response[list[BuildObjectOut]]:
        page, per_page = paging.requested(request)
        search = request.query_params.get("search")
        rows, at = marid.builds.objects(build_row.id, search, page, per_page)
        base = api_base(request)
        return Response(
            [object_out(marid, base, r) for r in rows], headers=paging.headers(request, at)
        )
