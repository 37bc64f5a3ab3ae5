"""Projection runners: one leader per projection, chosen with a PostgreSQL advisory lock.

Every process may start runners; one takes each projection's session lock and follows the
event log in batches (woken through the process's one LISTEN connection, see
infrastructure.event_log), the others wait to take over. `ReadModels` (in
`projections.read_models`) waits on them for read-your-writes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import closing, nullcontext
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.projection import Projection

from projections.base import View, lock_key
from projections.followers import GapWatch

log = logging.getLogger("marid.projections")

BATCH = 500  # events read, and applied in one transaction, at a time
IDLE_WAIT = 5.0  # seconds a quiet runner waits for a wake-up before it looks anyway


class Leadership:
    """The leader locks (session advisory locks) of one process, on one shared connection.

    A connection per runner would cost a process a dozen idle connections. The locks of one
    session are reentrant, so a process must run at most one runner per lock on it.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()

    def try_acquire(self, key: int) -> bool:
        with self._guard:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = psycopg.connect(self.conninfo, autocommit=True)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            return row is not None and bool(row[0])

    def release(self, key: int) -> None:
        with self._guard:
            if self._conn is None or self._conn.closed or self._conn.broken:
                return  # the server released the session's locks with it
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg.Error:
                log.warning("could not release leader lock %s", key, exc_info=True)

    def close(self) -> None:
        with self._guard:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class Runner:
    """Follows the event log into one view while it holds the projection's leader lock."""

    def __init__(
        self,
        app: Application[UUID],
        projection: Projection[View],
        conninfo: str,
        retry_interval: float = 1.0,
        leadership: Leadership | None = None,
    ) -> None:
        """`leadership`: the process's shared lock connection; without one the runner
        holds its lock on a connection of its own."""
        self.leadership = leadership
        self.app = app
        self.projection = projection
        self.view = projection.view
        self.conninfo = conninfo
        self.retry_interval = retry_interval
        self.position = 0
        self.is_leader = False
        self.gaps: GapWatch | None = None  # while it leads
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._woken: threading.Event | None = None  # set to wake it while it follows
        self._thread = threading.Thread(
            target=self._run, name=f"projection-{projection.name}", daemon=True
        )

    @property
    def name(self) -> str:
        return self.projection.name

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        """Started and not yet stopped."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self.signal_stop()
        self.join()

    def signal_stop(self) -> None:
        """Ask the runner to stop, without waiting for it."""
        self._stopping.set()
        woken = self._woken
        if woken is not None:
            woken.set()

    def join(self, timeout: float = 10) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def wait_local(self, notification_id: int, timeout: float) -> bool:
        """Block until this runner has processed `notification_id`, or `timeout` passes."""
        with self._changed:
            return self._changed.wait_for(lambda: self.position >= notification_id, timeout)

    def _run(self) -> None:
        key = lock_key(f"marid:projection:{self.name}")
        while not self._stopping.is_set():
            leadership = self.leadership or Leadership(self.conninfo)
            try:
                if self._lead(leadership, key):
                    self._follow()
            except Exception:
                log.exception("projection %s failed; retrying", self.name)
            finally:
                if self.is_leader:
                    leadership.release(key)
                self.is_leader = False
                if leadership is not self.leadership:
                    leadership.close()
            self._stopping.wait(self.retry_interval)

    def _lead(self, leadership: Leadership, key: int) -> bool:
        while not self._stopping.is_set():
            if leadership.try_acquire(key):
                self.is_leader = True
                return True
            self._stopping.wait(self.retry_interval)
        return False

    def _follow(self) -> None:
        """Read the log in batches past the position, each applied in one transaction;
        wait for a wake-up (the process's one LISTEN connection) when there is no more."""
        start = self.view.max_tracking_id(self.app.name) or 0
        self._set_position(start)
        events_table = f"{self.app.name.lower()}_events"
        gaps = GapWatch(self.view.datastore, events_table, self.name, start)
        self.gaps = gaps
        recorder: Any = self.app.recorder
        topics = list(self.projection.topics)
        with recorder.wakeups.listening() as woken, closing(gaps):
            self._woken = woken
            while not self._stopping.is_set():
                woken.clear()
                batch = recorder.select_notifications(
                    start=self.position, limit=BATCH, topics=topics, inclusive_of_start=False
                )
                if batch:
                    self._apply(batch)
                    gaps.observe(batch[-1].id)
                if len(batch) < BATCH:
                    woken.wait(IDLE_WAIT)
            self._woken = None

    def _apply(self, batch: Sequence[Notification]) -> None:
        """One transaction for the batch where the view can (a `View`); else one per event
        (the webhook dispatcher reads what it wrote for the previous event)."""
        in_one = self.view.batch if getattr(self.view, "batchable", False) else None
        with in_one(Tracking(self.app.name, batch[-1].id)) if in_one else nullcontext():
            for notification in batch:
                event = self.app.mapper.to_domain_event(notification)
                self.projection.process_event(event, Tracking(self.app.name, notification.id))
                if in_one is None:
                    self._set_position(notification.id)
        self._set_position(batch[-1].id)

    def _set_position(self, position: int) -> None:
        with self._changed:
            self.position = position
            self._changed.notify_all()


__all__ = ["Leadership", "Runner"]
