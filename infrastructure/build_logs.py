"""Build output: the text a worker produces, chunk by chunk, and a way to follow it live.

Output is data, not history: it lives in its own table (like blobs, outside the event log
and never rebuilt), `job_id` 0 holding the build-level log (driver creation and the like).
Every append notifies the channel `marid_build_output`; the builds read model notifies
`marid_build_status` when a job or build changes state. `OutputFeed` listens to both on
one connection per process and wakes the streams that follow the build concerned.

Chunk numbers (`seq`) come from one sequence, so they only grow, even across `clear` and a
re-run of an orphaned build: a reader that resumes after chunk N never misses a newer one.
Appends to one job are serialised by an advisory lock, so chunks commit in `seq` order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore

from projections.base import create_tables, lock_key
from projections.builds import STATUS_CHANNEL

log = logging.getLogger("marid.output")

TABLE = "marid_build_output"
CHANNEL = TABLE
NUL = "\x00"
NUL_TEXT = "NUL"  # what a NUL character becomes (PostgreSQL text cannot hold it)


class BuildLogs:
    """The output store: append, read whole or from a chunk on, clear for a re-run."""

    def __init__(self, datastore: PostgresDatastore, conninfo: str | None = None) -> None:
        self.datastore = datastore
        self.feed = OutputFeed(conninfo) if conninfo else None

    def create_table(self) -> None:
        create_tables(
            self.datastore,
            TABLE,
            f"CREATE SEQUENCE IF NOT EXISTS {TABLE}_seq",
            f"CREATE TABLE IF NOT EXISTS {TABLE} (build_id bigint NOT NULL, "
            "job_id bigint NOT NULL, seq bigint NOT NULL, data text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (build_id, job_id, seq))",
        )

    def append(self, build_id: int, job_id: int, text: str) -> int:
        """Store one chunk (NUL characters become `NUL`, lone surrogates `?`) and notify
        followers; its seq."""
        data = text.replace(NUL, NUL_TEXT).encode("utf-8", "replace").decode("utf-8")
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "SELECT pg_advisory_xact_lock(%s)", (lock_key(f"marid:output:{build_id}:{job_id}"),)
            )
            curs.execute(
                f"INSERT INTO {TABLE} (build_id, job_id, seq, data) "
                f"VALUES (%s, %s, nextval('{TABLE}_seq'), %s) RETURNING seq",
                (build_id, job_id, data),
            )
            row = curs.fetchone()
            curs.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{build_id}:{job_id}"))
        assert row is not None  # INSERT ... RETURNING always returns its row
        return int(row["seq"])

    def text(self, build_id: int, job_id: int) -> str:
        """Everything written so far, in order ("" when nothing was)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT coalesce(string_agg(data, '' ORDER BY seq), '') AS text FROM {TABLE} "
                "WHERE build_id = %s AND job_id = %s",
                (build_id, job_id),
            )
            row = curs.fetchone()
        return "" if row is None else str(row["text"])

    def chunks(
        self, build_id: int, job_id: int, after_seq: int = 0, limit: int | None = None
    ) -> list[tuple[int, str]]:
        """The chunks after `after_seq`, oldest first (at most `limit` of them)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT seq, data FROM {TABLE} WHERE build_id = %s AND job_id = %s "
                "AND seq > %s ORDER BY seq LIMIT %s",
                (build_id, job_id, after_seq, limit),
            )
            return [(int(r["seq"]), str(r["data"])) for r in curs.fetchall()]

    def clear(self, build_id: int) -> None:
        """Forget a build's output (an orphaned build runs again from the start)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(f"DELETE FROM {TABLE} WHERE build_id = %s", (build_id,))
            curs.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{build_id}:0"))

    def subscribe(self, build_id: int) -> OutputSubscription:
        """Follow a build from the calling event loop (see `OutputSubscription`)."""
        return OutputSubscription(self.feed, build_id)

    def close(self) -> None:
        if self.feed is not None:
            self.feed.stop()


class OutputSubscription:
    """Wakes one stream when its build gets output or changes state.

    Subscribe before reading, clear before each read, then wait: a change that lands
    between the read and the wait has already set the event, so none is missed. Without
    a live LISTEN connection `wait` returns after `poll` seconds, and the caller re-reads.
    """

    def __init__(self, feed: OutputFeed | None, build_id: int, poll: float = 1.0) -> None:
        self.feed = feed
        self.build_id = build_id
        self.poll = poll
        self.event = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        if feed is not None:
            feed.add(self)

    def clear(self) -> None:
        self.event.clear()

    def wake(self) -> None:
        """Called from the feed's thread."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self.loop.call_soon_threadsafe(self.event.set)

    async def wait(self, timeout: float) -> bool:
        """Whether something changed within `timeout` (polling when the feed is down)."""
        if self.feed is None or not self.feed.listening:
            timeout = min(timeout, self.poll)
        try:
            await asyncio.wait_for(self.event.wait(), max(timeout, 0))
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if self.feed is not None:
            self.feed.remove(self)

    def __enter__(self) -> OutputSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OutputFeed:
    """One LISTEN connection per process, opened when the first stream subscribes.

    A stream then holds no pool connection while it waits. After a lost connection every
    subscriber is woken once it is back, since notifications sent meanwhile are gone.
    """

    def __init__(self, conninfo: str, retry_interval: float = 1.0) -> None:
        self.conninfo = conninfo
        self.retry_interval = retry_interval
        self.listening = False
        self._subscribers: dict[int, set[OutputSubscription]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, subscription: OutputSubscription) -> None:
        with self._lock:
            self._subscribers.setdefault(subscription.build_id, set()).add(subscription)
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="output-feed", daemon=True)
                self._thread.start()

    def remove(self, subscription: OutputSubscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(subscription.build_id, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscribers.pop(subscription.build_id, None)

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subscribers.values())

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    conn.execute(f"LISTEN {STATUS_CHANNEL}")
                    self._wake(None)  # whatever was sent before LISTEN: read again
                    self.listening = True
                    self._listen(conn)
            except Exception:
                log.exception("output feed lost its connection; reconnecting")
            finally:
                self.listening = False
            self._stopping.wait(self.retry_interval)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stopping.is_set():
            for notify in conn.notifies(timeout=0.5):
                self._wake(_build_id(notify.payload))

    def _wake(self, build_id: int | None) -> None:
        """Wake the subscribers of one build, or all of them (None)."""
        with self._lock:
            if build_id is None:
                woken = [s for group in self._subscribers.values() for s in group]
            else:
                woken = list(self._subscribers.get(build_id, ()))
        for subscription in woken:
            subscription.wake()


def _build_id(payload: str) -> int | None:
    """The build a notification is about (`<build_id>` or `<build_id>:<job_id>`)."""
    head = payload.split(":", 1)[0]
    return int(head) if head.isdigit() else None
