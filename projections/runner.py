"""Projection runners: one leader per projection, chosen with a PostgreSQL advisory lock.

Every process may start runners; one takes each projection's session lock and follows the
event log in batches (woken through the process's one LISTEN connection, see
infrastructure.event_log), the others wait to take over. `ReadModels` (in
`projections.read_models`) waits on them for read-your-writes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import closing
from functools import partial
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
CHECK_INTERVAL = 1.0  # seconds between checks that the leader locks are still held
# A dead peer or network is noticed in seconds, not after the kernel's two hours.
KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 10000,
    "connect_timeout": 10,
}
# Which of the given advisory locks (bigint keys) this session holds.
HELD = (
    "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks WHERE locktype = 'advisory' "
    "AND objsubid = 1 AND granted AND pid = pg_backend_pid() "
    "AND ((classid::bigint << 32) | objid::bigint) = ANY(%s)"
)


class Leadership:
    """The leader locks (session advisory locks) of one process, on one shared connection.

    A connection per runner would cost a process a dozen idle connections. The locks of one
    session are reentrant, so a process must run at most one runner per lock on it.

    While it holds locks, a watcher thread checks every `check_interval` seconds that the
    server still holds them for this session (pg_locks of its backend). When the connection
    dies (the server restarted, the backend was terminated, the network is away) every
    lock is lost at once: `holds` turns False for each, within `check_interval` plus the
    connection's timeouts, the runners holding them are woken (`on_loss`) and stop
    following, and their next `try_acquire` competes again on a new connection.
    """

    def __init__(self, conninfo: str, check_interval: float = CHECK_INTERVAL) -> None:
        self.conninfo = conninfo
        self.check_interval = check_interval
        self._conn: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()
        self._held: set[int] = set()
        self._on_loss: dict[int, Callable[[], None]] = {}
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()

    def try_acquire(self, key: int, on_loss: Callable[[], None] | None = None) -> bool:
        """Take `key` if no session holds it; `on_loss` is called (from the watcher) if the
        lock is lost while held."""
        with self._guard:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = psycopg.connect(self.conninfo, autocommit=True, **KEEPALIVE)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row is None or not row[0]:
                return False
            self._held.add(key)
            if on_loss is not None:
                self._on_loss[key] = on_loss
            self._watch()
            return True

    def holds(self, key: int) -> bool:
        """Whether the lock is still held, as of the last check."""
        return key in self._held

    def pid(self) -> int | None:
        """The server process of the lock connection (for tests and logs)."""
        conn = self._conn
        return None if conn is None or conn.closed else conn.info.backend_pid

    def release(self, key: int) -> None:
        with self._guard:
            if key not in self._held:
                return  # lost with the connection: the server released it
            self._held.discard(key)
            self._on_loss.pop(key, None)
            if self._conn is None or self._conn.closed or self._conn.broken:
                return  # the server released the session's locks with it
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg.Error:
                log.warning("could not release leader lock %s", key, exc_info=True)

    def check(self) -> set[int]:
        """Compare the locks held with the server's; forget (and report) the lost ones."""
        with self._guard:
            if not self._held:
                return set()
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    raise psycopg.OperationalError("the lock connection is closed")
                rows = self._conn.execute(HELD, (list(self._held),)).fetchall()
                lost = self._held - {int(row[0]) for row in rows}
            except psycopg.Error:
                log.warning("lost the leader lock connection", exc_info=True)
                lost = set(self._held)
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
            self._held -= lost
            callbacks = [self._on_loss.pop(key) for key in lost if key in self._on_loss]
        for callback in callbacks:
            callback()
        if lost:
            log.warning("leader locks lost: %s", sorted(lost))
        return lost

    def _watch(self) -> None:
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(
                target=self._watch_loop, name="leadership-watch", daemon=True
            )
            self._watcher.start()

    def _watch_loop(self) -> None:
        while not self._closed.wait(self.check_interval):
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise
                log.exception("checking the leader locks failed")

    def close(self) -> None:
        self._closed.set()
        with self._guard:
            self._held.clear()
            self._on_loss.clear()
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5)


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
                    self._follow(partial(leadership.holds, key))
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
            if leadership.try_acquire(key, on_loss=self._lost):
                self.is_leader = True
                return True
            self._stopping.wait(self.retry_interval)
        return False

    def _lost(self) -> None:
        """The leader lock was lost (its connection died): stop following now."""
        woken = self._woken
        if woken is not None:
            woken.set()

    def _follow(self, leads: Callable[[], bool]) -> None:
        """Read the log in batches past the position, each applied in one transaction;
        wait for a wake-up (the process's one LISTEN connection) when there is no more.
        Ends when `leads()` turns False (the lock was lost): a batch applied meanwhile is
        still applied exactly once (the view's tracking record)."""
        start = self.view.max_tracking_id(self.app.name) or 0
        self._set_position(start)
        events_table = f"{self.app.name.lower()}_events"
        gaps = GapWatch(self.view.datastore, events_table, self.name, start)
        self.gaps = gaps
        recorder: Any = self.app.recorder
        topics = list(self.projection.topics)
        with recorder.wakeups.listening() as woken, closing(gaps):
            self._woken = woken
            while not self._stopping.is_set() and leads():
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
        """One transaction for the batch where the view can (a `View`); else, or when the
        batch fails, one per event (the webhook dispatcher reads what it wrote for the
        previous event; a failing event then fails alone, after those before it)."""
        if getattr(self.view, "batchable", False):
            try:
                with self.view.batch(Tracking(self.app.name, batch[-1].id)):
                    for notification in batch:
                        self._process(notification)
            except Exception:
                log.warning(
                    "projection %s: a batch of %d events failed; applying them one by one",
                    self.name,
                    len(batch),
                    exc_info=True,
                )
            else:
                self._set_position(batch[-1].id)
                return
        for notification in batch:
            self._process(notification)
            self._set_position(notification.id)

    def _process(self, notification: Notification) -> None:
        event = self.app.mapper.to_domain_event(notification)
        self.projection.process_event(event, Tracking(self.app.name, notification.id))

    def _set_position(self, position: int) -> None:
        with self._changed:
            self.position = position
            self._changed.notify_all()


__all__ = ["Leadership", "Runner"]
