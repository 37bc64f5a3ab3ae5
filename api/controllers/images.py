"""Images: `/api/images` and a namespace's `/-/images`.

An image is created from JSON (`download_url`, fetched in the background), from a raw
QCOW2 body (`name`/`namespace` in the query string) or from a multipart form (file part
`file`). The file streams into the blob store as it arrives (see `api.uploads`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from api import paging
from api.access import namespace_guard
from api.auth import Caller
from api.render import api_base, iso, origin, settled
from api.resources import common_fields, readable_resource, resource_guard
from api.schemas.images import DownloadOut, ImageCreate, ImageOut
from api.uploads import Upload, UploadStart, blob_response, discard_on_error, receive_upload
from application.images import ImageContent
from domain.images import FileCheck, is_qcow2
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from projections.resources import ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
ONE = "/api/images/{image_id:int}"
QEMU_DISK = "application/x-qemu-disk"
DOWNLOAD_TYPES = (QEMU_DISK, "application/octet-stream")
FIELDS = tuple(f.encode_name for f in msgspec.structs.fields(ImageCreate))


def image_out(base: str, row: ResourceRow) -> ImageOut:
    f = row.fields
    download = None
    if f["download_source"] is not None:
        download = DownloadOut(
            source=f["download_source"],
            error=f["download_error"],
            created_at=iso(f["created_at"]),
            started_at=iso(f["download_started_at"]),
            finished_at=iso(f["download_finished_at"]),
        )
    return ImageOut(
        driver=f["driver"],
        name=f["name"],
        download=download,
        **common_fields(base, row, f"{base}/images/{f['id']}"),  # type: ignore[arg-type]
    )


def download_type(accept: str | None) -> str | None:
    """The file type the client asked for (`Accept`), or None for the JSON object."""
    for item in (accept or "").split(","):
        media = item.split(";")[0].strip().lower()
        if media in DOWNLOAD_TYPES:
            return media
    return None


class _NotQcow2Error(Exception):
    """Raised to refuse a raw body that is not QCOW2 before it is stored (its fields are
    all known by then, so every other rule can still be reported with it)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("not a QCOW2 file")
        self.fields = fields


def _begin(start: UploadStart) -> str:
    """The blob key of an uploaded file."""
    if start.final and not is_qcow2(start.head) and not start.fields.get("download_url"):
        raise _NotQcow2Error(start.fields)
    return f"images/upload-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class ImageRequest:
    """A create request in any of its forms; `upload.key` is set only for a file to keep."""

    upload: Upload
    check: FileCheck

    @property
    def fields(self) -> dict[str, str]:
        return self.upload.fields

    def content(self) -> ImageContent:
        url = self.fields.get("download_url") or None
        return ImageContent(url, self.check, self.upload.key, self.upload.blob)


async def receive_image(request: Req, marid: Marid) -> ImageRequest:
    """Read a create request; a file that is not kept (not QCOW2, or a URL given instead)
    is deleted again."""
    try:
        upload = await receive_upload(
            request, marid.blobs, _begin, limit=marid.settings.image_max_size, json_fields=FIELDS
        )
    except _NotQcow2Error as refused:
        return ImageRequest(Upload(refused.fields, None, b"", None, None), FileCheck.NOT_QCOW2)
    if upload.key is None:
        return ImageRequest(upload, FileCheck.MISSING)
    if upload.fields.get("download_url") or not is_qcow2(upload.head):
        await anyio.to_thread.run_sync(marid.blobs.delete, upload.key)
        check = FileCheck.QCOW2 if is_qcow2(upload.head) else FileCheck.NOT_QCOW2
        return ImageRequest(Upload(upload.fields, None, upload.head, None, None), check)
    return ImageRequest(upload, FileCheck.QCOW2)


def create_image(marid: Marid, user_id: int, received: ImageRequest, by: Origin) -> ResourceRow:
    """Create the image (the stored file is deleted if that fails) and read it back."""
    content = received.content()
    with discard_on_error(marid.blobs, received.upload):
        outcome = marid.app.create_image(
            user_id, received.fields.get("name"), received.fields.get("namespace"), content, by
        )
    image_id = marid.settle(outcome)
    if content.download_url:
        marid.downloads.wake()
    return settled(marid.images.get(image_id))


class ImageController(Controller):
    tags = ["images"]
    guards = [namespace_guard, resource_guard]

    @get("/api/images", sync_to_thread=True, summary="Images you can see")
    def list_images(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> Response[list[ImageOut]]:
        user = caller.require("image", "read")
        page, per_page = paging.requested(request)
        rows, at = marid.images.visible(user.id, request.query_params.get("search"), page, per_page)
        base = api_base(request)
        return Response([image_out(base, r) for r in rows], headers=paging.headers(request, at))

    @post(
        "/api/images",
        summary="Create an image: JSON with download_url, a raw QCOW2 body, or multipart",
        opt={"scope": "image:write"},
        request_max_body_size=None,  # the upload enforces the image size limit itself
    )
    async def create(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> ImageOut:
        user = caller.signed_in()
        received = await receive_image(request, marid)
        by = origin(request, user.id)
        row = await anyio.to_thread.run_sync(create_image, marid, user.id, received, by)
        return image_out(api_base(request), row)

    @get(
        ONE,
        sync_to_thread=True,
        summary="Get an image; its file with Accept: application/x-qemu-disk",
    )
    def get_image(
        self,
        request: Req,
        image_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> Response[Any]:
        row = readable_resource(marid, caller, marid.images.get(image_id), "image")
        media_type = download_type(request.headers.get("accept"))
        if media_type is None:
            return Response(image_out(api_base(request), row))
        if row.fields["blob_key"] is None:  # the download has not finished (or failed)
            raise NotFoundException()
        return blob_response(
            marid.blobs, row.fields["blob_key"], media_type, request.headers.get("range")
        )

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete an image",
        opt={"scope": "image:delete", "resource": "image"},
    )
    def delete_image(
        self,
        request: Req,
        image_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> None:
        user = caller.signed_in()
        readable_resource(marid, caller, marid.images.get(image_id), "image", read_scope=False)
        blob_key = marid.settle(marid.app.delete_image(image_id, user.id, origin(request, user.id)))
        if blob_key is not None:
            marid.blobs.delete(blob_key)

    @get(
        "/api/n/{user:str}/{path:str}/-/images",
        sync_to_thread=True,
        summary="A namespace's images",
        opt={"namespace": "read"},
    )
    def namespace_images(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> Response[list[ImageOut]]:
        page, per_page = paging.requested(request)
        rows, at = marid.images.in_namespace(
            namespace_row.id, request.query_params.get("search"), page, per_page
        )
        base = api_base(request)
        return Response([image_out(base, r) for r in rows], headers=paging.headers(request, at))
