"""The Image aggregate: a QCOW2 disk image, uploaded or fetched from a URL in the background."""

from __future__ import annotations

import re
from dataclasses import InitVar
from datetime import datetime, timedelta
from enum import Enum
from urllib.parse import SplitResult, urlsplit

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, Errors
from domain.origin import Origin
from domain.resources import NamespacedResource

NAME_PATTERN = r"^[a-zA-Z0-9_\-]+$"
NAME_RE = re.compile(NAME_PATTERN)
DRIVER = "qemu"  # the only driver images exist for
QCOW2_MAGIC = b"QFI\xfb"
URL_SCHEMES = ("http", "https")
REDACTED = "xxxxx"

FILE_REQUIRED = "File field required"
FILE_NOT_QCOW2 = "File not a valid QCOW2 file format"
URL_BAD_SCHEME = "Download_url invalid url scheme"
URL_INVALID = "Download_url is not a valid URL"


class FileCheck(Enum):
    """What an upload turned out to be, decided while it streamed."""

    MISSING = "missing"
    NOT_QCOW2 = "not_qcow2"
    QCOW2 = "qcow2"


def is_qcow2(head: bytes) -> bool:
    """Whether content starting with `head` (at least 4 bytes of it) is a QCOW2 image."""
    return head[:4] == QCOW2_MAGIC


def validate_image(
    errors: Errors, name: str | None, download_url: str | None, file: FileCheck
) -> None:
    """Add every rule a new image's fields break (Djinn's messages).

    A download URL replaces the file; without one the file is required. Djinn reports a
    missing file twice; once is enough.
    """
    if not name:
        errors.add("name", "Name field required")
    elif not NAME_RE.fullmatch(name):  # `$` with match() would let "name\n" through
        errors.add("name", f"Name does not match {NAME_PATTERN}")
    if download_url:
        problem = url_problem(download_url)
        if problem is not None:
            errors.add("download_url", problem)
    elif file is FileCheck.MISSING:
        errors.add("file", FILE_REQUIRED)
    elif file is FileCheck.NOT_QCOW2:
        errors.add("file", FILE_NOT_QCOW2)


def url_problem(url: str) -> str | None:
    """What is wrong with a download URL, or None: only absolute http(s) URLs are fetched."""
    parts = _split(url)
    if parts is None or not (parts.scheme or parts.netloc):
        return URL_INVALID
    if parts.scheme.lower() not in URL_SCHEMES:
        return URL_BAD_SCHEME
    if not parts.hostname:
        return URL_INVALID
    return None


def _split(url: str) -> SplitResult | None:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number in range
    except ValueError:
        return None
    return parts


def redact(url: str) -> str:
    """The URL as shown in `download.source`: password replaced, scheme and host lowercased."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username is not None:
        secret = f":{REDACTED}" if parts.password is not None else ""
        host = f"{parts.username}{secret}@{host}"
    return parts._replace(scheme=parts.scheme.lower(), netloc=host).geturl()


class DownloadClaimError(DomainError):
    """Raised when a download is finished, gone, or held by another live downloader."""

    def __init__(self, image_id: int, claimant: str) -> None:
        super().__init__(f"download of image {image_id} is not claimable by {claimant}")
        self.image_id = image_id
        self.claimant = claimant


class Image(NamespacedResource):
    """An image; one created from a URL holds the URL sealed (it may carry credentials).

    Fetching is claimed with a command, so that of several downloaders exactly one wins
    (the others' saves collide on the version). A claim stays fresh while its holder
    reports progress; a claim left stale by a dead process may be taken over.
    """

    KIND = "image"

    name: str
    driver: str
    blob_key: str | None
    size: InitVar[int | None]  # recorded, not kept
    sha256: InitVar[str | None]
    download_source: str | None
    download_url: str | None  # sealed
    origin: InitVar[Origin]

    class Created(NamespacedResource.Created):
        name: str
        driver: str
        blob_key: str | None
        size: int | None
        sha256: str | None
        download_source: str | None
        download_url: str | None  # sealed
        origin: Origin

    class DownloadClaimed(Aggregate.Event):
        claimant: str
        at: datetime
        origin: Origin

    class DownloadProgressed(Aggregate.Event):
        claimant: str
        received: int
        at: datetime
        origin: Origin

    class DownloadFinished(Aggregate.Event):
        blob_key: str
        size: int
        sha256: str
        at: datetime
        origin: Origin

    class DownloadFailed(Aggregate.Event):
        error: str
        at: datetime
        origin: Origin

    class Deleted(NamespacedResource.Deleted):
        pass

    def __post_init__(self, size: int | None, sha256: str | None, origin: Origin) -> None:
        """Nobody has claimed the download yet."""
        self.claimant: str | None = None
        self.claim_seen_at: datetime | None = None
        self.download_finished = False

    @property
    def download_pending(self) -> bool:
        return self.download_url is not None and not self.download_finished and not self.deleted

    def holds_claim(self, claimant: str) -> bool:
        return self.download_pending and self.claimant == claimant

    def claim_download(self, claimant: str, at: datetime, lease: timedelta, origin: Origin) -> None:
        """Take the pending download: unclaimed, or its claim not renewed within `lease`."""
        seen = self.claim_seen_at
        fresh = self.claimant is not None and seen is not None and at - seen <= lease
        if not self.download_pending or fresh:
            raise DownloadClaimError(self.public_id, claimant)
        self._download_claimed(claimant=claimant, at=at, origin=origin)

    @event(DownloadClaimed)
    def _download_claimed(self, claimant: str, at: datetime, origin: Origin) -> None:
        self.claimant = claimant
        self.claim_seen_at = at

    def record_progress(self, claimant: str, received: int, at: datetime, origin: Origin) -> None:
        """Bytes received so far; also renews the claim."""
        self._check_claim(claimant)
        self._download_progressed(claimant=claimant, received=received, at=at, origin=origin)

    @event(DownloadProgressed)
    def _download_progressed(
        self, claimant: str, received: int, at: datetime, origin: Origin
    ) -> None:
        self.claim_seen_at = at

    def finish_download(
        self, claimant: str, blob_key: str, size: int, sha256: str, at: datetime, origin: Origin
    ) -> None:
        self._check_claim(claimant)
        self._download_finished(blob_key=blob_key, size=size, sha256=sha256, at=at, origin=origin)

    @event(DownloadFinished)
    def _download_finished(
        self, blob_key: str, size: int, sha256: str, at: datetime, origin: Origin
    ) -> None:
        self.blob_key = blob_key
        self.download_finished = True

    def fail_download(self, claimant: str, error: str, at: datetime, origin: Origin) -> None:
        self._check_claim(claimant)
        self._download_failed(error=error, at=at, origin=origin)

    @event(DownloadFailed)
    def _download_failed(self, error: str, at: datetime, origin: Origin) -> None:
        self.download_finished = True

    def _check_claim(self, claimant: str) -> None:
        if not self.holds_claim(claimant):
            raise DownloadClaimError(self.public_id, claimant)
