"""The image downloader: fetches images created from a URL, in the background, safely.

Every process that calls `Marid.start()` runs one. Pending downloads are found in the
images read model; each is claimed with a command on its Image aggregate (saves are
version-guarded, so exactly one downloader of all processes fetches it) and the claim is
renewed with progress events. A claim whose holder died goes stale and is taken over, so
pending downloads survive restarts.

Only public addresses are fetched from, unless `allow_private_urls` (see `public_http`).
A download stops at `image_max_size`, or earlier at what is left of its owner's storage
quota (`user_quota`), and fails saying which.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx

from application.app import MaridApplication
from application.core import Outcome
from application.ports import BlobStore
from application.quotas import Quota, Room, size_text
from domain.images import DownloadClaimError, is_qcow2
from infrastructure.blobs import BlobTooLargeError
from infrastructure.public_http import FetchError, PublicOnlyTransport
from infrastructure.settings import Settings
from projections.images import ImageQueries
from projections.read_models import ReadModels
from projections.usage import ReadModelStorageUsage

log = logging.getLogger("marid.downloads")

SETTLED_KEPT = 1024


class AbandonedError(Exception):
    """Raised when this process stops mid-download; the claim goes stale and is taken over."""


def describe(exc: Exception, limit: int | None, room: Room | None = None) -> str:
    """The text recorded as a download's error (`room`: the owner's quota, when it and
    not `limit` stopped the download)."""
    if isinstance(exc, FetchError):
        return str(exc)
    if isinstance(exc, httpx.InvalidURL):
        return "invalid url"
    if isinstance(exc, BlobTooLargeError) and room is not None:
        return f"image does not fit: {room.refusal()}"
    if isinstance(exc, BlobTooLargeError):
        return f"image too large, cannot exceed {size_text(exc.limit)}"
    if isinstance(exc, httpx.TimeoutException):
        return "download timed out"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "redirected to a URL that is not http or https"
    return f"download failed: {exc}"


# What a download meets out there; anything else is logged too (and still recorded, so
# that one broken URL is not retried forever).
EXPECTED = (FetchError, BlobTooLargeError, httpx.HTTPError, httpx.InvalidURL)


class Downloads:
    """Background downloaders of one process; `run_pending()` is one pass, for tests too."""

    def __init__(
        self,
        app: MaridApplication,
        blobs: BlobStore,
        images: ImageQueries,
        read_models: ReadModels,
        settings: Settings,
        *,
        transport: Callable[[], httpx.BaseTransport] | None = None,
        workers: int = 2,
        lease: timedelta = timedelta(minutes=2),
        heartbeat: float = 15.0,
        poll_interval: float = 5.0,
        stall_timeout: float = 30.0,
        total_timeout: float = 6 * 3600.0,
        max_redirects: int = 5,
    ) -> None:
        self.app = app
        self.blobs = blobs
        self.images = images
        self.read_models = read_models
        self.settings = settings
        self.transport = transport or (lambda: PublicOnlyTransport(settings.allow_private_urls))
        self.quota = Quota(settings.user_quota, ReadModelStorageUsage(images.datastore))
        self.claimant = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = lease
        self.heartbeat = heartbeat
        self.poll_interval = poll_interval
        self.stall_timeout = stall_timeout
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self._stopping = threading.Event()
        self._wakers = [threading.Event() for _ in range(workers)]
        self._threads: list[threading.Thread] = []
        self._settled = threading.Condition()
        self._settled_ids: dict[int, None] = {}  # the latest SETTLED_KEPT, oldest first

    def start(self) -> None:
        """Start the workers; each first takes what is pending (also from before a restart)."""
        if self._threads:
            return
        for number, waker in enumerate(self._wakers):
            thread = threading.Thread(
                target=self._work, args=(waker,), name=f"downloads-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def wake(self) -> None:
        """Look for pending downloads now rather than at the next poll."""
        for waker in self._wakers:
            waker.set()

    def stop(self) -> None:
        """Stop the workers; a download in progress is abandoned and taken over later."""
        self._stopping.set()
        self.wake()
        deadline = time.monotonic() + 10  # a stalled fetch notices at its next chunk or timeout
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))

    def wait_settled(self, image_id: int, timeout: float) -> bool:
        """Block until this process has finished or failed the image's download, and its
        read model shows it."""
        with self._settled:
            return self._settled.wait_for(lambda: image_id in self._settled_ids, timeout)

    def run_pending(self) -> int:
        """Claim and fetch, one after another, the pending downloads no live downloader
        holds; returns how many this pass settled."""
        settled = 0
        for image_id in self.images.pending_downloads():
            if self._stopping.is_set():
                break
            try:
                url = self.app.claim_download(image_id, self.claimant, self.lease).value
            except DownloadClaimError:
                continue  # finished, deleted, or another downloader holds it
            if self.fetch(image_id, url):
                settled += 1
        return settled

    def fetch(self, image_id: int, url: str) -> bool:
        """Fetch a claimed image into the blob store and record the outcome.

        Returns False when the claim was lost (to a downloader that took it over, or by
        deletion): the other side owns the outcome and nothing fetched here is kept.
        """
        key = f"images/{image_id}-{uuid.uuid4().hex}"
        limit = self.settings.image_max_size
        room = self.app.download_room(image_id, self.quota)
        quota_first = room is not None and (limit is None or room.left < limit)
        if quota_first:
            assert room is not None
            limit = room.left
        try:
            info = self.blobs.put(key, self._chunks(image_id, url, limit), limit)
        except (DownloadClaimError, AbandonedError):
            return False
        except Exception as exc:
            if not isinstance(exc, EXPECTED):
                log.exception("download of image %s failed", image_id)
            error = describe(exc, limit, room if quota_first else None)
            return self._record(image_id, self.app.fail_download, error)
        try:
            recorded = self._record(image_id, self.app.finish_download, key, info)
        except BaseException:
            self.blobs.delete(key)  # not recorded: the retry after the claim goes stale refetches
            raise
        if not recorded:
            self.blobs.delete(key)
        return recorded

    def _record(self, image_id: int, command: Callable[..., Outcome[None]], *args: Any) -> bool:
        """Save an outcome and wait until the read model shows it; False if the claim is lost."""
        try:
            outcome = command(image_id, self.claimant, *args)
        except DownloadClaimError:
            return False
        self.read_models.wait_for(outcome.recordings, self.settings.read_wait_timeout)
        with self._settled:
            self._settled_ids[image_id] = None
            if len(self._settled_ids) > SETTLED_KEPT:
                del self._settled_ids[next(iter(self._settled_ids))]
            self._settled.notify_all()
        return True

    def _chunks(self, image_id: int, url: str, limit: int | None) -> Iterator[bytes]:
        """The response body, checked to be QCOW2, renewing the claim as it flows."""
        deadline = time.monotonic() + self.total_timeout
        # Credentials travel as an auth header, not in the URL, which httpx logs.
        target = httpx.URL(url)
        auth = httpx.BasicAuth(target.username, target.password) if target.userinfo else None
        with (
            httpx.Client(
                transport=self.transport(),
                follow_redirects=True,
                max_redirects=self.max_redirects,
                timeout=httpx.Timeout(self.stall_timeout),
                trust_env=False,
            ) as client,
            client.stream("GET", target.copy_with(userinfo=b""), auth=auth) as response,
        ):
            if response.status_code != 200:
                raise FetchError(
                    f"unexpected status {response.status_code} {response.reason_phrase}"
                )
            declared = response.headers.get("content-length", "")
            if limit is not None and declared.isdigit() and int(declared) > limit:
                raise BlobTooLargeError(limit)  # refused before any of it is read
            head: bytes | None = b""
            received, beat = 0, time.monotonic()
            for chunk in response.iter_bytes():
                if self._stopping.is_set():
                    raise AbandonedError()
                if time.monotonic() > deadline:
                    raise FetchError("download timed out")
                received += len(chunk)
                if head is not None:
                    head += chunk
                    if len(head) < 4:
                        continue
                    if not is_qcow2(head):
                        raise FetchError("not a valid qcow2 file")
                    chunk, head = head, None
                yield chunk
                if time.monotonic() - beat >= self.heartbeat:
                    self.app.record_download_progress(image_id, self.claimant, received)
                    beat = time.monotonic()
            if head is not None:
                raise FetchError("not a valid qcow2 file")

    def _work(self, waker: threading.Event) -> None:
        while not self._stopping.is_set():
            try:
                self.run_pending()
            except Exception:
                log.exception("image downloads failed; retrying")
            waker.wait(self.poll_interval)
            waker.clear()
