"""Objects: `/api/objects` and a namespace's `/-/objects`.

An object is created from a raw body (`name` and `namespace` in the query string) or a
multipart form (fields `name`, `namespace`, file part `file`); its content streams into
the blob store as it arrives (see `api.uploads`).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Stream

from api import paging
from api.access import namespace_guard
from api.auth import Caller
from api.render import api_base, origin
from api.resources import common_fields, readable_resource, resource_guard
from api.schemas.objects import ObjectOut
from api.uploads import (
    Upload,
    UploadStart,
    blob_response,
    discard_on_error,
    receive_upload,
    upload_operation,
)
from application.objects import StoredContent
from domain.objects import BINARY, blob_key, sniff_type
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from projections.resources import ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]


def object_out(base: str, row: ResourceRow) -> ObjectOut:
    f = row.fields
    url = f"{base}/objects/{f['id']}"
    return ObjectOut(
        name=f["name"],
        type=f["type"],
        size=f["size"],
        md5=f["md5"] or None,
        sha256=f["sha256"] or None,
        builds_url=f"{url}/builds",
        **common_fields(base, row, url),  # type: ignore[arg-type]
    )


class ObjectUpload:
    """One object upload: checked when its content begins, recorded once it is stored."""

    def __init__(self, marid: Marid, caller_id: int, origin: Origin) -> None:
        self.marid = marid
        self.caller_id = caller_id
        self.origin = origin
        self.object_id: int | None = None

    def begin(self, start: UploadStart) -> str:
        name, namespace = start.fields.get("name"), start.fields.get("namespace")
        self.object_id = self.marid.app.prepare_object(
            self.caller_id, name, namespace, self.origin, partial=not start.final
        )
        return blob_key(self.object_id)

    def finish(self, upload: Upload) -> ResourceRow:
        content = None
        if upload.blob is not None:
            content_type = upload.content_type or sniff_type(upload.head)
            content = StoredContent(content_type, upload.blob)
        name, namespace = upload.fields.get("name"), upload.fields.get("namespace")
        with discard_on_error(self.marid.blobs, upload):
            outcome = self.marid.app.create_object(
                self.object_id, self.caller_id, name, namespace, content, self.origin
            )
        row = self.marid.objects.get(self.marid.settle(outcome))
        if row is None:
            raise NotFoundException()
        return row


class ObjectController(Controller):
    tags = ["objects"]
    guards = [namespace_guard, resource_guard]

    @get("/api/objects", sync_to_thread=True, summary="Objects you can see")
    def list_objects(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> Response[list[ObjectOut]]:
        user = caller.require("object", "read")
        page, per_page = paging.requested(request)
        rows, at = marid.objects.visible(
            user.id, request.query_params.get("search"), page, per_page
        )
        base = api_base(request)
        return Response([object_out(base, r) for r in rows], headers=paging.headers(request, at))

    @post(
        "/api/objects",
        summary="Upload an object (raw body, or multipart/form-data with a `file` part)",
        opt={"scope": "object:write"},
        request_max_body_size=None,  # the upload enforces `object_max_size` itself
        operation_class=upload_operation(("name", "namespace")),
    )
    async def create_object(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> ObjectOut:
        user = caller.signed_in()
        creation = ObjectUpload(marid, user.id, origin(request, user.id))
        limit = marid.settings.object_max_size
        upload = await receive_upload(
            request, marid.blobs, creation.begin, limit=limit, json_fields=("name", "namespace")
        )
        row = await anyio.to_thread.run_sync(creation.finish, upload)
        return object_out(api_base(request), row)

    @get(
        "/api/objects/{object_id:int}",
        sync_to_thread=True,
        summary="Get an object; its content when `Accept` is its type or application/octet-stream",
    )
    def get_object(
        self,
        request: Req,
        object_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> ObjectOut | Stream:
        row = readable_resource(marid, caller, marid.objects.get(object_id), "object")
        content_type = row.fields["type"]
        if request.headers.get("accept", "").strip() in (content_type, BINARY):
            ranges = request.headers.get("range")
            return blob_response(marid.blobs, blob_key(object_id), content_type, ranges)
        return object_out(api_base(request), row)

    @delete(
        "/api/objects/{object_id:int}",
        sync_to_thread=True,
        summary="Delete an object and its content",
        opt={"scope": "object:delete", "resource": "object"},
    )
    def delete_object(
        self,
        request: Req,
        object_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> None:
        user = caller.signed_in()
        readable_resource(marid, caller, marid.objects.get(object_id), "object", read_scope=False)
        outcome = marid.app.delete_object(object_id, user.id, origin(request, user.id))
        marid.blobs.delete(outcome.value)
        marid.settle(outcome)

    @get(
        "/api/n/{user:str}/{path:str}/-/objects",
        sync_to_thread=True,
        summary="A namespace's objects",
        opt={"namespace": "read"},
    )
    def namespace_objects(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> Response[list[ObjectOut]]:
        page, per_page = paging.requested(request)
        rows, at = marid.objects.in_namespace(
            namespace_row.id, request.query_params.get("search"), page, per_page
        )
        base = api_base(request)
        return Response([object_out(base, r) for r in rows], headers=paging.headers(request, at))
