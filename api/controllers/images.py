"""Images: `/api/images` and a namespace's `/-/images`.

An image is created from JSON (`download_url`, fetched in the background), from a raw
QCOW2 body (`name`/`namespace` in the query string) or from a multipart form (file part
`file`). The file streams into the blob store as it arrives (see `api.uploads`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException

from api.access import namespace_guard, resource_guard
from api.auth import Actor, Caller
from api.blob_responses import blob_response
from api.deps import Injected, Settle
from api.quota import provide_quota
from api.render import api_base, iso, struct_of
from api.resources import Namespaced, resource_out
from api.schemas.images import DownloadOut, ImageCreate, ImageOut
from api.upload_body import Upload, UploadStart
from api.uploads import discard_on_error, receive_upload
from application.images import ImageCases, ImageContent
from application.ports import BlobStore
from application.quotas import Quota
from domain.images import FileCheck, is_qcow2
from infrastructure.settings import Settings
from projections.images import ImageQueries
from projections.resources import ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
ONE = "/api/images/{image_id:int}"
QEMU_DISK = "application/x-qemu-disk"
DOWNLOAD_TYPES = (QEMU_DISK, "application/octet-stream")
FIELDS = tuple(f.encode_name for f in msgspec.structs.fields(ImageCreate))


def provide_wake_downloads(state: State) -> Callable[[], None]:
    """Look for pending image downloads now (the downloads are built on first use: httpx
    is slow to import, and most creates download nothing)."""
    return lambda: state.marid.downloads.wake()


def image_out(base: str, row: ResourceRow) -> ImageOut:
    f = row.fields
    download = None
    if f["download_source"] is not None:
        # `download_<name>` columns; `created_at` is the image's own.
        download = struct_of(
            DownloadOut, lambda name: f[f"download_{name}"], created_at=iso(f["created_at"])
        )
    return resource_out(ImageOut, base, row, "images", download=download)


IMAGES = Namespaced("image", image_out)


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


async def receive_image(request: Req, blobs: BlobStore, limit: int | None) -> ImageRequest:
    """Read a create request; a file that is not kept (not QCOW2, or a URL given instead)
    is deleted again."""
    try:
        upload = await receive_upload(request, blobs, _begin, limit=limit, json_fields=FIELDS)
    except _NotQcow2Error as refused:
        return ImageRequest(Upload(refused.fields, None, b"", None, None), FileCheck.NOT_QCOW2)
    if upload.key is None:
        return ImageRequest(upload, FileCheck.MISSING)
    if upload.fields.get("download_url") or not is_qcow2(upload.head):
        await anyio.to_thread.run_sync(blobs.delete, upload.key)
        check = FileCheck.QCOW2 if is_qcow2(upload.head) else FileCheck.NOT_QCOW2
        return ImageRequest(Upload(upload.fields, None, upload.head, None, None), check)
    return ImageRequest(upload, FileCheck.QCOW2)


class ImageController(Controller):
    tags = ["images"]
    guards = [namespace_guard, resource_guard]
    dependencies = {
        "wake_downloads": Provide(provide_wake_downloads, sync_to_thread=False),
        "quota": Provide(provide_quota, sync_to_thread=False),
    }

    @get("/api/images", sync_to_thread=True, summary="Images you can see")
    def list_images(
        self, request: Req, caller: Injected[Caller], images: Injected[ImageQueries]
    ) -> Response[list[ImageOut]]:
        return IMAGES.visible(request, caller, images)

    @post(
        "/api/images",
        summary="Create an image: JSON with download_url, a raw QCOW2 body, or multipart",
        opt={"scope": "image:write"},
        request_max_body_size=None,  # the upload enforces the image size limit itself
    )
    async def create(
        self,
        request: Req,
        actor: Injected[Actor],
        image_cases: Injected[ImageCases],
        settle: Injected[Settle],
        images: Injected[ImageQueries],
        blobs: Injected[BlobStore],
        wake_downloads: Injected[Callable[[], None]],
        settings: Injected[Settings],
        quota: Injected[Quota],
    ) -> ImageOut:
        received = await receive_image(request, blobs, settings.image_max_size)

        def create_image() -> ResourceRow | None:
            """Create the image (the stored file is deleted if that fails), read it back."""
            content = received.content()
            with discard_on_error(blobs, received.upload):
                fields = received.fields
                outcome = image_cases.create_image(
                    actor.id,
                    fields.get("name"),
                    fields.get("namespace"),
                    content,
                    actor.origin,
                    quota,
                )
            image_id = settle(outcome)
            if content.download_url:
                wake_downloads()
            return images.get(image_id)

        return IMAGES.one(request, await anyio.to_thread.run_sync(create_image))

    @get(
        ONE,
        sync_to_thread=True,
        summary="Get an image; its file with Accept: application/x-qemu-disk",
        opt={"resource": "image"},
    )
    def get_image(
        self, request: Req, resource_row: Injected[ResourceRow], blobs: Injected[BlobStore]
    ) -> Response[Any]:
        media_type = download_type(request.headers.get("accept"))
        if media_type is None:
            return Response(image_out(api_base(request), resource_row))
        key = resource_row.fields["blob_key"]
        if key is None:  # the download has not finished (or failed)
            raise NotFoundException()
        return blob_response(blobs, key, media_type, request.headers.get("range"))

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete an image",
        opt={"scope": "image:delete", "resource": "image"},
    )
    def delete_image(
        self,
        actor: Injected[Actor],
        resource_row: Injected[ResourceRow],
        image_cases: Injected[ImageCases],
        settle: Injected[Settle],
        blobs: Injected[BlobStore],
    ) -> None:
        blob_key = settle(image_cases.delete_image(resource_row.id, actor.id, actor.origin))
        if blob_key is not None:
            blobs.delete(blob_key)

    @get(
        "/api/n/{user:str}/{path:str}/-/images",
        sync_to_thread=True,
        summary="A namespace's images",
        opt={"namespace": "read"},
    )
    def namespace_images(
        self, request: Req, namespace_row: Injected[NamespaceRow], images: Injected[ImageQueries]
    ) -> Response[list[ImageOut]]:
        return IMAGES.in_namespace(request, namespace_row, images)
