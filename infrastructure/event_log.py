"""The event log's recorder: appends that never wait on each other, and followers that
read only what is final.

eventsourcing's PostgreSQL recorder locks the events table in EXCLUSIVE mode for every
append, so that ids commit in the order they are taken, and sends NOTIFY inside the
appending transaction. Both serialise every write of the system, the WAL flush of each
commit included: appends ran at 6 % of pgbench's rate for the same rows. Here appends take
no lock and notify after they commit; the order is kept on the reading side instead.

The horizon. Ids come from a sequence when a row is inserted, so a transaction that took
id 5 may commit after one that took id 6. A follower that read 6 and moved on would never
see 5. `Horizon` is the highest id H such that every id up to H is final: committed (and
visible) or never to be (its transaction rolled back). Followers read only up to it.

Why it is sound. An append first makes sure its transaction has an id of its own
(`pg_current_xact_id()`), and only then draws notification ids. Say a reader's snapshot S
shows id m but not id n < m. The transaction T that drew n drew it before m was drawn,
so T had its transaction id, and its lock on the table, before S was taken. If T still
runs when the reader next looks at the locks (`pg_locks`: transactions holding a write
lock on the events table), it is among the appends found there: n is remembered with
those appends as its blockers. A later snapshot S' that sees none of them running either
shows n, or n is final (T rolled back: had it committed, it would have ended before S'
and S' would show it). "Running at S'" is: in S''s list of running transactions
(`pg_snapshot_xip`), or at or past its `xmax` (the list leaves out the newest running
transactions, those that no finished transaction is newer than). The ids read and the
running list come from one statement, so from one snapshot. Only appends to this table
block: transaction ids are numbered across the whole server, and a long transaction in
another database, or one that only reads the log, must not hold followers back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal

log = logging.getLogger("marid.event_log")

SCAN = 1000  # ids read per horizon step
GAP_TICK = 0.05  # seconds between looks while an id is missing below a later one
IDLE_TICK = 1.0  # seconds between looks while the log is quiet (a missed wake-up)
RECONNECT = 1.0  # seconds before the listener connects again
# A listener on a connection that died without a word (a NAT or firewall forgetting it)
# would wait for ever: TCP keepalives and a send timeout end it within seconds.
KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


class Horizon:
    """How far the event log is final, as seen by this process (see the module's text)."""

    def __init__(self, datastore: PostgresDatastore, table: str) -> None:
        self.datastore = datastore
        self.settled: int | None = None  # every id up to here is final
        # Ids missing below a visible one → the appends that may still commit them.
        self.pending: dict[int, frozenset[int]] = {}
        self._first: tuple[int, frozenset[int]] | None = None  # the head when first read
        self._lock = threading.Lock()
        # While a listener follows the channel, every append (here or elsewhere) bumps
        # `generation` before followers are woken: a step taken since the last bump has
        # seen everything it could, so followers woken together share one step.
        self.listened = False
        self.generation = 0
        self._stepped_at = -1
        self._stepped_when = 0.0
        t = Identifier(datastore.schema, table)
        running = (
            "array(SELECT pg_snapshot_xip(pg_current_snapshot())::text) AS running, "
            "pg_snapshot_xmax(pg_current_snapshot())::text AS xmax"
        )
        self._scan = SQL(
            "SELECT array(SELECT notification_id FROM {t} WHERE notification_id > %s "
            "ORDER BY notification_id LIMIT %s) AS ids, " + running
        ).format(t=t)
        self._head = SQL(
            "SELECT (SELECT max(notification_id) FROM {t}) AS head, " + running
        ).format(t=t)
        # The transactions appending now: an append holds a lock on the table from before
        # it draws ids until it ends (and, having a transaction id, a lock on that id).
        self._appending = SQL(
            "SELECT x.transactionid::text AS xid FROM pg_locks r JOIN pg_locks x "
            "ON x.virtualtransaction = r.virtualtransaction AND x.locktype = 'transactionid' "
            "WHERE r.locktype = 'relation' AND r.relation = {t}::regclass AND r.granted "
            "AND r.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', "
            "'AccessExclusiveLock') "
            "AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).format(t=Literal(f"{datastore.schema}.{table}"))

    @property
    def waiting(self) -> bool:
        """Whether ids are missing below later ones (a look soon may move the horizon)."""
        return bool(self.pending) or self._first is not None

    def touch(self) -> None:
        """The log may have grown."""
        self.generation += 1

    def forget(self) -> None:
        """Start again from the log as it is: for a log emptied under a running process
        (tests reset their database; in production ids only grow)."""
        with self._lock:
            self.settled, self._first, self._stepped_at = None, None, -1
            self.pending.clear()

    def advance(self) -> int:
        """Move the horizon as far as the log allows now; return it."""
        wanted = self.generation
        with self._lock:
            if (
                self.listened
                and self._stepped_at >= wanted
                and self.settled is not None
                and not self.waiting
                and time.monotonic() - self._stepped_when < IDLE_TICK
            ):
                return self.settled  # (a missed wake-up is caught within IDLE_TICK)
            stepping = self.generation
            with self.datastore.get_connection() as conn:
                settled = self._step(conn)
            self._stepped_at, self._stepped_when = stepping, time.monotonic()
            return settled

    def _step(self, conn: psycopg.Connection[DictRow]) -> int:
        if self.settled is None:
            self._start(conn)
        if self.settled is None:
            return 0
        while True:
            row = conn.execute(self._scan, (self.settled, SCAN)).fetchone()
            assert row is not None
            ids: list[int] = row["ids"]
            if self._walk(conn, ids, Running(row["running"], row["xmax"])):
                if len(ids) < SCAN:
                    return self.settled
            elif self.pending.get(self.settled + 1):
                return self.settled  # appends that may still commit it run: wait for them
            # else an id first seen missing with no append left running: the next
            # snapshot decides it at once (a rolled-back append's ids need no wait)

    def _start(self, conn: psycopg.Connection[DictRow]) -> None:
        """The first horizon: the head of the log once the appends running when it was
        read have ended (every id below it is then final)."""
        row = conn.execute(self._head).fetchone()
        assert row is not None
        if self._first is not None:
            head, blockers = self._first
            if not Running(row["running"], row["xmax"]).among(blockers):
                self.settled, self._first = head, None
            return
        blockers = self._appends(conn)
        if blockers:
            self._first = (int(row["head"] or 0), blockers)
        else:
            self.settled = int(row["head"] or 0)

    def _walk(self, conn: psycopg.Connection[DictRow], ids: list[int], running: Running) -> bool:
        """Settle the ids read, in order, up to the first missing one that may still come;
        whether the walk went through all of them."""
        assert self.settled is not None
        for nid in ids:
            for missing in range(self.settled + 1, nid):
                blockers = self.pending.get(missing)
                if blockers is None:  # first seen missing: decided on a later snapshot
                    appends = self._appends(conn)
                    for gap in range(missing, nid):
                        self.pending.setdefault(gap, appends)
                    return False
                still = running.among(blockers)
                if still:
                    self.pending[missing] = still
                    return False
                del self.pending[missing]  # its append rolled back: final
                self.settled = missing
            self.pending.pop(nid, None)
            self.settled = nid
        return True

    def _appends(self, conn: psycopg.Connection[DictRow]) -> frozenset[int]:
        """The appends running now (read after the snapshot that found an id missing: any
        append that held it then and still runs is among them)."""
        return frozenset(int(row["xid"]) for row in conn.execute(self._appending).fetchall())


class Running:
    """The transactions a snapshot saw running: those in its list (`pg_snapshot_xip`), and
    every one at or past its `xmax`, which the list leaves out (the newest transaction
    still running is not in the list until a later one has ended)."""

    def __init__(self, xip: list[str], xmax: str) -> None:
        self.xip = frozenset(int(v) & 0xFFFFFFFF for v in xip)
        self.xmax = int(xmax) & 0xFFFFFFFF

    def among(self, xids: frozenset[int]) -> frozenset[int]:
        """Those of `xids` (32-bit, as pg_locks shows them) still running at the snapshot."""
        return frozenset(x for x in xids if x in self.xip or _at_or_after(x, self.xmax))


def _at_or_after(xid: int, xmax: int) -> bool:
    """Whether 32-bit transaction id `xid` is `xmax` or newer (modulo 2^32, as PostgreSQL
    compares them)."""
    return ((xid - xmax) & 0xFFFFFFFF) < 2**31


class Wakeups:
    """One LISTEN connection per process on the event log's channel, waking every follower
    of the process (and, while ids are missing, waking them every GAP_TICK)."""

    def __init__(self, connect: dict[str, Any], channel: str, horizon: Horizon) -> None:
        self.connect = connect  # psycopg.connect's arguments
        self.channel = channel
        self.horizon = horizon
        self._events: set[threading.Event] = set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    @contextmanager
    def listening(self) -> Iterator[threading.Event]:
        """An event set whenever the log may have grown; set once at the start."""
        event = threading.Event()
        event.set()
        with self._guard:
            self._events.add(event)
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(
                    target=self._listen, name="event-log-listener", daemon=True
                )
                self._thread.start()
        try:
            yield event
        finally:
            with self._guard:
                self._events.discard(event)

    def wake(self) -> None:
        self.horizon.touch()
        with self._guard:
            events = list(self._events)
        for event in events:
            event.set()

    def close(self) -> None:
        self._closed.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                with psycopg.connect(**self.connect, **KEEPALIVE, autocommit=True) as conn:
                    conn.execute(SQL("LISTEN {0}").format(Identifier(self.channel)))
                    self.horizon.listened = True
                    self.wake()  # anything appended while not listening
                    while not self._closed.is_set():
                        tick = GAP_TICK if self.horizon.waiting else IDLE_TICK
                        notified = False
                        for _ in conn.notifies(timeout=tick, stop_after=1):
                            notified = True
                        if notified or self.horizon.waiting:
                            self.wake()
                self.horizon.listened = False
            except Exception:
                self.horizon.listened = False
                if self._closed.is_set():
                    return
                log.warning("lost the event log's LISTEN connection; reconnecting", exc_info=True)
                self.wake()  # followers look once more while it is away
            self._closed.wait(RECONNECT)


class MaridRecorder(PostgresApplicationRecorder):
    """The application recorder: appends without a table lock, reads up to the horizon.

    Chosen through eventsourcing's `APPLICATION_RECORDER_TOPIC` (infrastructure.database).
    """

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.log_horizon = Horizon(datastore, events_table_name)
        kwargs = datastore.pool.kwargs
        assert isinstance(kwargs, dict)  # eventsourcing passes the connection's arguments
        connect = {k: v for k, v in kwargs.items() if k != "row_factory"}
        self.wakeups = Wakeups(connect, self.channel_name, self.log_horizon)
        self._take_xid = SQL("SELECT pg_current_xact_id()")
        self._notify = SQL("NOTIFY {0}").format(Identifier(self.channel_name))

    def _lock_table(self, curs: Cursor[DictRow]) -> None:
        # Instead of the table lock: a transaction id before any notification id is drawn.
        curs.execute(self._take_xid, prepare=True)

    def _notify_channel(self, curs: Cursor[DictRow]) -> None:
        pass  # after the commit instead (`insert_events`)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """As eventsourcing's (one pipelined transaction), then NOTIFY on the same
        connection once the COMMIT is known to have happened: its own transaction, which
        writes nothing and so waits for no WAL flush (NOTIFY in the appending transaction
        would hold a server-wide lock through the commit's flush, serialising every
        append). A NOTIFY that fails is logged; the save has happened."""
        failure: Exception | None = None
        ids: Sequence[int] | None = None
        try:
            with self.datastore.get_connection() as conn:
                with conn.pipeline() as pipeline, conn.transaction():
                    with conn.cursor() as curs:
                        self._insert_events(curs, stored_events, **kwargs)
                    if stored_events:
                        with conn.cursor() as curs:
                            try:
                                self._insert_stored_events(curs, stored_events, **kwargs)
                                pipeline.sync()  # a conflict raises here, not at COMMIT
                                ids = self._fetch_ids_after_insert_events(
                                    curs, stored_events, **kwargs
                                )
                            except Exception as exc:  # raised once the pipeline ends
                                failure = exc
                if failure is not None:
                    raise failure
                try:  # committed: a failed NOTIFY must not fail the save (nor redo it)
                    conn.execute(self._notify)
                except Exception:  # the others look again within IDLE_TICK
                    log.warning("could not NOTIFY the event log's channel", exc_info=True)
        finally:  # a rolled-back append leaves ids missing for good: followers look again
            self.wakeups.wake()
        return ids

    def horizon(self) -> int:
        """Every notification id up to this one is final."""
        return self.log_horizon.advance()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """As eventsourcing's, never past the horizon."""
        horizon = self.horizon()
        stop = horizon if stop is None else min(stop, horizon)
        first = (start or 0) if inclusive_of_start or start is None else start + 1
        if first > stop:
            return []
        found: Sequence[Notification] = super().select_notifications(
            start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )
        return found

    def close(self) -> None:
        self.wakeups.close()
