"""The orphan sweeper: removes blobs that no live read model names.

A blob is written before the event that names it and removed after the event that drops
it, so a crash leaves at worst a blob nothing names: an upload refused after its file was
stored, a deletion saved whose file was not yet removed. Those orphans are what the
sweeper removes, once they are older than a grace period (an upload under way is young,
and its event follows within moments of its blob). The read models are brought up to the
head of the event log before they are read, so an event saved before the sweep began
always protects its blob.

On S3 a multipart upload's object is dated from the upload's start, so a blob that took
longer than the grace period to upload is old the moment it lands. The periodic sweeper
therefore removes only blobs it already found orphaned on its previous pass, minutes
earlier; one pass (`marid blobs sweep`) relies on the grace period alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from eventsourcing.postgres import PostgresDatastore

from application.core import utcnow
from application.ports import BlobStore
from infrastructure.blobs import KEY_RE
from projections.base import lock_key
from projections.read_models import NotSettledError, ReadModels
from projections.runner import Leadership

log = logging.getLogger("marid.blobs")

GRACE = timedelta(hours=1)  # a blob younger than this is never removed
# A multipart upload started longer ago than this is taken for abandoned: longer than any
# upload or image download runs (an hour would cut off a slow large image mid-way).
ABANDONED_UPLOAD = timedelta(days=1)
INTERVAL = 15 * 60.0  # seconds between the periodic sweeper's passes
READ_MODELS = ("objects", "images", "builds")  # the read models that name blobs
# Every key a live read model names (the key shapes of domain.objects.blob_key,
# domain.build_plan.artifact_blob_key and the images' own column).
REFERENCED = """
    SELECT 'objects/' || id AS key FROM objects
    UNION ALL SELECT blob_key FROM images WHERE blob_key IS NOT NULL
    UNION ALL SELECT 'artifacts/' || build_id || '/' || id FROM build_artifacts
        WHERE deleted_at IS NULL
"""


class BlobSweeper:
    """Finds and removes orphaned blobs; `start()` runs a pass every `interval` seconds in
    the process that holds the sweeper's advisory lock."""

    def __init__(
        self,
        blobs: BlobStore,
        datastore: PostgresDatastore,
        read_models: ReadModels,
        head: Callable[[], int | None],
        *,
        grace: timedelta = GRACE,
        interval: float = INTERVAL,
        wait_timeout: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`head`: the event log's last notification id (the recorder's)."""
        self.blobs = blobs
        self.datastore = datastore
        self.read_models = read_models
        self.head = head
        self.grace = grace
        self.interval = interval
        self.wait_timeout = wait_timeout
        self.clock = clock
        self.suspects: set[str] | None = None  # orphans of the previous periodic pass
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def orphans(self) -> list[str]:
        """Keys older than the grace period that no read model names, in key order;
        `NotSettledError` if a read model cannot reach the head of the log in time."""
        cutoff = self.clock() - self.grace
        # First, and only marid's keys (a bucket shared without a prefix holds others).
        old = [
            key
            for key, modified in self.blobs.listing()
            if modified < cutoff and KEY_RE.match(key) and ".." not in key
        ]
        head = self.head() or 0
        for name in READ_MODELS:
            self.read_models.settle_until(name, head, self.wait_timeout)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(REFERENCED)
            named = {row["key"] for row in curs.fetchall()}
        return sorted(key for key in old if key not in named)

    def sweep(self, *, dry_run: bool = False) -> list[str]:
        """Remove the orphans: the keys removed, or that would be with `dry_run`."""
        found = self.orphans()
        if not dry_run:
            self._remove(found)
        return found

    def periodic_pass(self) -> list[str]:
        """One pass of the periodic sweeper: orphans found on the previous pass too are
        removed, the others remembered for the next. The keys removed."""
        found = self.orphans()
        doomed = [key for key in found if self.suspects is not None and key in self.suspects]
        self._remove(doomed)
        self.suspects = set(found) - set(doomed)
        return doomed

    def _remove(self, keys: list[str]) -> None:
        """Delete `keys`; S3 multipart uploads abandoned for a day are aborted."""
        for key in keys:
            self.blobs.delete(key)
            log.info("removed orphaned blob %s", key)
        abort_stale = getattr(self.blobs, "abort_stale_uploads", None)
        if abort_stale is not None:
            aborted = abort_stale(self.clock() - max(self.grace, ABANDONED_UPLOAD))
            if aborted:
                log.info("aborted %s abandoned multipart uploads", aborted)

    # --- running periodically ----------------------------------------------------------

    def start(self, leadership: Leadership, lock_name: str) -> None:
        """Run passes every `interval` seconds while this process holds `lock_name`."""
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(leadership, lock_key(lock_name)), name="blob-sweeper"
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.wait_timeout + 10)
            self._thread = None

    def _run(self, leadership: Leadership, key: int) -> None:
        while not self._stopping.wait(self.interval):
            try:
                if not leadership.try_acquire(key):
                    self.suspects = None  # another process sweeps; start afresh if we lead
                    continue
                try:
                    self.periodic_pass()
                finally:
                    leadership.release(key)
            except NotSettledError as exc:
                log.warning("blob sweep skipped: %s", exc)
            except Exception:
                log.exception("blob sweep failed; trying again in %ss", self.interval)
