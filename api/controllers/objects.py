"""Objects: `/api/objects` and a namespace's `/-/objects`.

An object is created from a raw body (`name` and `namespace` in the query string) or a
multipart form (fields `name`, `namespace`, file part `file`); its content streams into
the blob store as it arrives (see `api.uploads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import Provide
from litestar.response import Stream

from api.access import namespace_guard, resource_guard
from api.auth import Actor, Caller
from api.blob_responses import blob_response
from api.deps import Injected, Settle
from api.quota import provide_quota
from api.render import api_base
from api.resources import Namespaced, resource_out
from api.schemas.objects import ObjectOut
from api.upload_body import Upload, UploadStart
from api.uploads import discard_on_error, receive_upload, upload_operation
from application.objects import ObjectCases, StoredContent
from application.ports import BlobStore
from application.quotas import Quota
from domain.objects import BINARY, blob_key, sniff_type
from infrastructure.settings import Settings
from projections.resources import ResourceQueries, ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]


def object_out(base: str, row: ResourceRow) -> ObjectOut:
    f = row.fields
    builds_url = f"{base}/objects/{row.id}/builds"
    return resource_out(
        ObjectOut,
        base,
        row,
        "objects",
        md5=f["md5"] or None,
        sha256=f["sha256"] or None,
        builds_url=builds_url,
    )


OBJECTS = Namespaced("object", object_out)


@dataclass
class ObjectUpload:
    """One object upload: checked when its content begins, recorded once it is stored."""

    actor: Actor
    object_cases: ObjectCases
    blobs: BlobStore
    quota: Quota
    object_id: int | None = None

    def begin(self, start: UploadStart) -> str:
        name, namespace = start.fields.get("name"), start.fields.get("namespace")
        self.object_id = self.object_cases.prepare_object(
            self.actor.id, name, namespace, self.actor.origin, partial=not start.final
        )
        return blob_key(self.object_id)

    def finish(self, upload: Upload, settle: Settle) -> int:
        """The object's id, once the read models hold it."""
        content = None
        if upload.blob is not None:
            content_type = upload.content_type or sniff_type(upload.head)
            content = StoredContent(content_type, upload.blob)
        name, namespace = upload.fields.get("name"), upload.fields.get("namespace")
        with discard_on_error(self.blobs, upload):
            outcome = self.object_cases.create_object(
                self.object_id,
                self.actor.id,
                name,
                namespace,
                content,
                self.actor.origin,
                self.quota,
            )
        return settle(outcome)


class ObjectController(Controller):
    tags = ["objects"]
    guards = [namespace_guard, resource_guard]
    dependencies = {"quota": Provide(provide_quota, sync_to_thread=False)}

    @get("/api/objects", sync_to_thread=True, summary="Objects you can see")
    def list_objects(
        self, request: Req, caller: Injected[Caller], objects: Injected[ResourceQueries]
    ) -> Response[list[ObjectOut]]:
        return OBJECTS.visible(request, caller, objects)

    @post(
        "/api/objects",
        summary="Upload an object (raw body, or multipart/form-data with a `file` part)",
        opt={"scope": "object:write"},
        request_max_body_size=None,  # the upload enforces `object_max_size` itself
        operation_class=upload_operation(("name", "namespace")),
    )
    async def create_object(
        self,
        request: Req,
        actor: Injected[Actor],
        object_cases: Injected[ObjectCases],
        settle: Injected[Settle],
        objects: Injected[ResourceQueries],
        blobs: Injected[BlobStore],
        settings: Injected[Settings],
        quota: Injected[Quota],
    ) -> ObjectOut:
        creation = ObjectUpload(actor, object_cases, blobs, quota)
        upload = await receive_upload(
            request,
            blobs,
            creation.begin,
            limit=settings.object_max_size,
            json_fields=("name", "namespace"),
        )
        row = await anyio.to_thread.run_sync(lambda: objects.get(creation.finish(upload, settle)))
        return OBJECTS.one(request, row)

    @get(
        "/api/objects/{object_id:int}",
        sync_to_thread=True,
        summary="Get an object; its content when `Accept` is its type or application/octet-stream",
        opt={"resource": "object"},
    )
    def get_object(
        self, request: Req, resource_row: Injected[ResourceRow], blobs: Injected[BlobStore]
    ) -> ObjectOut | Stream:
        content_type = resource_row.fields["type"]
        if request.headers.get("accept", "").strip() in (content_type, BINARY):
            ranges = request.headers.get("range")
            return blob_response(blobs, blob_key(resource_row.id), content_type, ranges)
        return object_out(api_base(request), resource_row)

    @delete(
        "/api/objects/{object_id:int}",
        sync_to_thread=True,
        summary="Delete an object and its content",
        opt={"scope": "object:delete", "resource": "object"},
    )
    def delete_object(
        self,
        actor: Injected[Actor],
        resource_row: Injected[ResourceRow],
        object_cases: Injected[ObjectCases],
        settle: Injected[Settle],
        blobs: Injected[BlobStore],
    ) -> None:
        outcome = object_cases.delete_object(resource_row.id, actor.id, actor.origin)
        blobs.delete(outcome.value)
        settle(outcome)

    @get(
        "/api/n/{user:str}/{path:str}/-/objects",
        sync_to_thread=True,
        summary="A namespace's objects",
        opt={"namespace": "read"},
    )
    def namespace_objects(
        self,
        request: Req,
        namespace_row: Injected[NamespaceRow],
        objects: Injected[ResourceQueries],
    ) -> Response[list[ObjectOut]]:
        return OBJECTS.in_namespace(request, namespace_row, objects)
