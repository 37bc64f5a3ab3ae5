"""Use cases for images: create (uploaded or from a URL), delete, and the download lifecycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from application.core import Outcome
from application.ports import BlobInfo
from application.resources import ResourceCases, parse_ref
from domain.errors import Errors, NotFoundError
from domain.identity import aggregate_id
from domain.images import (
    DRIVER,
    DownloadClaimError,
    FileCheck,
    Image,
    redact,
    validate_image,
)
from domain.origin import Origin

DOWNLOADER = Origin.system("downloader")


@dataclass(frozen=True)
class ImageContent:
    """Where a new image's content comes from: a URL to fetch, or an upload.

    An upload is streamed into the blob store before the use case runs (it may be far
    too big to hold in memory); `blob_key` and `blob` describe it when it was a QCOW2 file.
    """

    download_url: str | None = None
    check: FileCheck = FileCheck.MISSING
    blob_key: str | None = None
    blob: BlobInfo | None = None


class ImageCases(ResourceCases):
    def create_image(
        self,
        caller_id: int,
        name: str | None,
        namespace: str | None,
        content: ImageContent,
        origin: Origin,
    ) -> Outcome[int]:
        """Create an image; one from a URL is pending until a downloader fetches it."""

        def command() -> Outcome[int]:
            errors = Errors()
            validate_image(errors, name, content.download_url, content.check)
            ref = parse_ref(namespace, errors)
            placement = self.place_checked(ref, caller_id, origin, errors, "image", name)
            assert name is not None  # checked by validate_image
            image_id = self.ids.next_id("image")
            index = self.claim_name("image", placement, name, image_id, origin)
            url = content.download_url or None
            uploaded = None if url else content.blob
            image = Image(
                public_id=image_id,
                owner_id=placement.owner_id,
                author_id=caller_id,
                namespace_id=placement.namespace_id,
                name=name,
                driver=DRIVER,
                blob_key=None if url else content.blob_key,
                size=None if uploaded is None else uploaded.size,
                sha256=None if uploaded is None else uploaded.sha256,
                download_source=redact(url) if url else None,
                download_url=self.secrets.seal(url) if url else None,
                origin=origin,
            )
            return Outcome(image_id, self.save(image, index, *placement.pending))

        return self.run(command)

    def delete_image(self, image_id: int, caller_id: int, origin: Origin) -> Outcome[str | None]:
        """Delete an image and free its name; returns the blob key to delete after the save."""

        def command() -> Outcome[str | None]:
            image = self.image(image_id)
            self.require_write("image", image.owner_id, image.namespace_id, caller_id)
            image.delete(origin)
            index = self.release_name(
                "image", image.owner_id, image.namespace_id, image.name, image_id, origin
            )
            return Outcome(image.blob_key, self.save(image, index))

        return self.run(command)

    def image(self, image_id: int) -> Image:
        """A live image, or NotFoundError."""
        image = self.load(aggregate_id("image", image_id), Image)
        if image is None or image.deleted:
            raise NotFoundError("image")
        return image

    def claim_download(self, image_id: int, claimant: str, lease: timedelta) -> Outcome[str]:
        """Claim a pending download and return its URL; DownloadClaimError when it is not
        pending or another downloader holds it (also when that one won a race to claim it).
        """

        def command() -> Outcome[str]:
            image = self._downloading(image_id, claimant)
            image.claim_download(claimant, self.clock(), lease, DOWNLOADER)
            recordings = self.save(image)
            assert image.download_url is not None  # a pending download has one
            return Outcome(self.secrets.open(image.download_url), recordings)

        return self.run(command)

    def record_download_progress(
        self, image_id: int, claimant: str, received: int
    ) -> Outcome[None]:
        """Bytes received so far; renews the claim (DownloadClaimError once it is lost)."""

        def command() -> Outcome[None]:
            image = self._downloading(image_id, claimant)
            image.record_progress(claimant, received, self.clock(), DOWNLOADER)
            return Outcome(None, self.save(image))

        return self.run(command)

    def finish_download(
        self, image_id: int, claimant: str, blob_key: str, blob: BlobInfo
    ) -> Outcome[None]:
        def command() -> Outcome[None]:
            image = self._downloading(image_id, claimant)
            at = self.clock()
            image.finish_download(claimant, blob_key, blob.size, blob.sha256, at, DOWNLOADER)
            return Outcome(None, self.save(image))

        return self.run(command)

    def fail_download(self, image_id: int, claimant: str, error: str) -> Outcome[None]:
        def command() -> Outcome[None]:
            image = self._downloading(image_id, claimant)
            image.fail_download(claimant, error, self.clock(), DOWNLOADER)
            return Outcome(None, self.save(image))

        return self.run(command)

    def _downloading(self, image_id: int, claimant: str) -> Image:
        """The image whose download a downloader works on; one deleted meanwhile is lost."""
        image = self.load(aggregate_id("image", image_id), Image)
        if image is None or image.deleted:
            raise DownloadClaimError(image_id, claimant)
        return image
