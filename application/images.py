"""Use cases for images: create (uploaded or from a URL), delete, and the download lifecycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from application.core import Outcome, command
from application.ports import BlobInfo
from application.quotas import NO_QUOTA, Quota, Room
from application.resources import ResourceCases, ResourceKind
from domain.errors import Errors
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
IMAGES = ResourceKind(Image)


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
    @command
    def create_image(
        self,
        caller_id: int,
        name: str | None,
        namespace: str | None,
        content: ImageContent,
        origin: Origin,
        quota: Quota = NO_QUOTA,
    ) -> Outcome[int]:
        """Create an image; one from a URL is pending until a downloader fetches it.
        An uploaded file counts against its owner's `quota` (a 400 on `file` past it);
        a download is checked as it is fetched (`download_room`)."""
        errors = Errors()
        validate_image(errors, name, content.download_url, content.check)
        new = self.place_new(IMAGES, namespace, name, caller_id, origin, errors)
        url = content.download_url or None
        uploaded = None if url else content.blob
        if uploaded is not None:
            quota.check(new.ownership["owner_id"], uploaded.size)
        image = Image(
            public_id=new.id,
            **new.ownership,
            name=new.name,
            driver=DRIVER,
            blob_key=None if url else content.blob_key,
            size=None if uploaded is None else uploaded.size,
            sha256=None if uploaded is None else uploaded.sha256,
            download_source=redact(url) if url else None,
            download_url=self.secrets.seal(url) if url else None,
            origin=origin,
        )
        return Outcome(new.id, self.save(image, *new.saved_with))

    @command
    def delete_image(self, image_id: int, caller_id: int, origin: Origin) -> Outcome[str | None]:
        """Delete an image and free its name; returns the blob key to delete after the save."""
        image, recordings = self.delete_resource(IMAGES, image_id, caller_id, origin)
        return Outcome(image.blob_key, recordings)

    def download_room(self, image_id: int, quota: Quota) -> Room | None:
        """The room the image's owner has for its download (None: no quota, or the image
        is gone, which its download finds out when it records its outcome)."""
        image = self.load(Image.create_id(image_id), Image)
        return None if image is None else quota.room(image.owner_id)

    def image(self, image_id: int) -> Image:
        """A live image, or NotFoundError."""
        return self.live(IMAGES, image_id)

    @command
    def claim_download(self, image_id: int, claimant: str, lease: timedelta) -> Outcome[str]:
        """Claim a pending download and return its URL; DownloadClaimError when it is not
        pending or another downloader holds it (also when that one won a race to claim it).
        """
        image = self._downloading(image_id, claimant)
        image.claim_download(claimant, self.clock(), lease, DOWNLOADER)
        recordings = self.save(image)
        assert image.download_url is not None  # a pending download has one
        return Outcome(self.secrets.open(image.download_url), recordings)

    @command
    def record_download_progress(
        self, image_id: int, claimant: str, received: int
    ) -> Outcome[None]:
        """Bytes received so far; renews the claim (DownloadClaimError once it is lost)."""
        image = self._downloading(image_id, claimant)
        image.record_progress(claimant, received, self.clock(), DOWNLOADER)
        return Outcome(None, self.save(image))

    @command
    def finish_download(
        self, image_id: int, claimant: str, blob_key: str, blob: BlobInfo
    ) -> Outcome[None]:
        image = self._downloading(image_id, claimant)
        at = self.clock()
        image.finish_download(claimant, blob_key, blob.size, blob.sha256, at, DOWNLOADER)
        return Outcome(None, self.save(image))

    @command
    def fail_download(self, image_id: int, claimant: str, error: str) -> Outcome[None]:
        image = self._downloading(image_id, claimant)
        image.fail_download(claimant, error, self.clock(), DOWNLOADER)
        return Outcome(None, self.save(image))

    def _downloading(self, image_id: int, claimant: str) -> Image:
        """The image whose download a downloader works on; one deleted meanwhile is lost."""
        image = self.load(Image.create_id(image_id), Image)
        if image is None or image.deleted:
            raise DownloadClaimError(image_id, claimant)
        return image
