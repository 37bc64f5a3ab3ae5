"""Followers' health: the notification ids missing below a follower's position.

eventsourcing's PostgreSQL recorder (9.5, without database functions) locks the events
table in EXCLUSIVE mode before each insert, so ids commit in the order they are taken and
a follower never passes an id whose transaction commits later. Ids still go missing: an
insert that rolls back has taken its ids from the sequence for good. Such gaps are normal.

A follower passing a missing id remembers it (table `follower_gaps`) and checks it again
later; an id that appears after the follower passed it was skipped: its event never
reached the follower. That is data loss, logged as an error and counted for ever.

The checks are batched: one transaction per `CHECK_SPAN` ids followed or `CHECK_INTERVAL`
seconds, never a query per event. A follower that goes idle with ids followed but not yet
checked, or with ids found missing in the last `IDLE_WATCH` seconds, keeps checking on
the same interval from a thread of its own (only while there is such work), so a late
commit is reported within seconds even when nothing else is written. Older missing ids are
checked again with the follower's next event.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from eventsourcing.postgres import PostgresDatastore

from projections.base import create_tables

log = logging.getLogger("marid.followers")

GAPS_TABLE = "follower_gaps"
WINDOW = 10_000  # ids below a position in which missing ones are reported
CHECK_SPAN = 500  # ids followed between two checks, at most
CHECK_INTERVAL = 1.0  # seconds between two checks while events arrive
KEEP = 1_000  # missing ids remembered per follower (the oldest are forgotten)
IDLE_WATCH = 300.0  # seconds during which newly missing ids are re-checked while idle


@dataclass(frozen=True)
class Gaps:
    missing: int  # ids missing in the WINDOW below the position: rolled back, normal
    skipped: int  # ids that appeared after the follower passed them: data loss


def create_gaps_table(datastore: PostgresDatastore) -> None:
    """The table `GapWatch` writes (made by `Marid.migrate`)."""
    create_tables(
        datastore,
        GAPS_TABLE,
        f"CREATE TABLE IF NOT EXISTS {GAPS_TABLE} (follower text NOT NULL, "
        "notification_id bigint NOT NULL, passed_at timestamptz NOT NULL DEFAULT now(), "
        "appeared_at timestamptz, PRIMARY KEY (follower, notification_id))",
    )


def gaps(datastore: PostgresDatastore, events_table: str, follower: str, position: int) -> Gaps:
    """What `marid projections status` and `/metrics` show, from any process."""
    with datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT count(*) AS n FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g(id) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {events_table} e WHERE e.notification_id = g.id)",
            {"lo": max(1, position - WINDOW + 1), "hi": position},
        )
        row = curs.fetchone()
        missing = int(row["n"]) if row else 0
        curs.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (GAPS_TABLE,))
        row = curs.fetchone()
        if row is None or not row["found"]:  # no follower has checked yet
            return Gaps(missing, 0)
        curs.execute(
            f"SELECT count(*) AS n FROM {GAPS_TABLE} "
            "WHERE follower = %s AND appeared_at IS NOT NULL",
            (follower,),
        )
        row = curs.fetchone()
        skipped = int(row["n"]) if row else 0
    return Gaps(missing, skipped)


class GapWatch:
    """Remembers the missing ids one follower passes and notices those that appear later.

    `observe` is called for every event followed and costs nothing but a comparison; it
    runs `check` once enough ids or time went by, and otherwise leaves the check to the
    idle ticker. Thread-safe: a scrape may check too. `close` when the follower stops.
    """

    def __init__(
        self, datastore: PostgresDatastore, events_table: str, follower: str, position: int
    ) -> None:
        self.datastore = datastore
        self.events_table = events_table
        self.follower = follower
        self.position = position
        self.checked = max(0, position - WINDOW)  # ids up to here were looked at
        self.recent: dict[int, float] = {}  # missing ids found lately → when (monotonic)
        self._last_check = time.monotonic()
        self._lock = threading.Lock()  # one check at a time
        self._arming = threading.Lock()  # starting and ending the ticker
        self._ticker: threading.Thread | None = None
        self._closed = threading.Event()

    def observe(self, position: int) -> None:
        self.position = position
        unchecked = position - self.checked
        if unchecked >= CHECK_SPAN or (
            unchecked > 0 and time.monotonic() - self._last_check >= CHECK_INTERVAL
        ):
            self.check()
        elif self._ticker is None and self._idle_work():  # the ticker checks if no event follows
            self._arm()

    def check(self) -> list[int]:
        """Remember the ids missing up to the position; return those seen missing before
        that exist now (skipped)."""
        with self._lock:
            position = self.position
            with self.datastore.transaction(commit=True) as curs:
                found: list[int] = []
                if position > self.checked:
                    curs.execute(
                        f"INSERT INTO {GAPS_TABLE} (follower, notification_id) "
                        "SELECT %(follower)s, g.id "
                        "FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g(id) "
                        f"WHERE NOT EXISTS (SELECT 1 FROM {self.events_table} e "
                        "WHERE e.notification_id = g.id) ON CONFLICT DO NOTHING "
                        "RETURNING notification_id",
                        {"follower": self.follower, "lo": self.checked + 1, "hi": position},
                    )
                    found = [int(row["notification_id"]) for row in curs.fetchall()]
                curs.execute(
                    f"UPDATE {GAPS_TABLE} AS f SET appeared_at = now() "
                    f"FROM {self.events_table} AS e WHERE f.follower = %s "
                    "AND f.appeared_at IS NULL AND e.notification_id = f.notification_id "
                    "RETURNING f.notification_id",
                    (self.follower,),
                )
                skipped = sorted(int(row["notification_id"]) for row in curs.fetchall())
                if found:
                    curs.execute(
                        f"DELETE FROM {GAPS_TABLE} WHERE follower = %(follower)s "
                        "AND appeared_at IS NULL AND notification_id < (SELECT "
                        f"min(notification_id) FROM (SELECT notification_id FROM {GAPS_TABLE} "
                        "WHERE follower = %(follower)s AND appeared_at IS NULL "
                        "ORDER BY notification_id DESC LIMIT %(keep)s) AS kept)",
                        {"follower": self.follower, "keep": KEEP},
                    )
            self.checked = max(self.checked, position)
            self._last_check = now = time.monotonic()
            self.recent.update(dict.fromkeys(found, now))
            for nid in [*skipped, *(n for n, at in self.recent.items() if now - at > IDLE_WATCH)]:
                self.recent.pop(nid, None)
        for nid in skipped:
            log.error(
                "follower %s skipped event %s: it committed after the follower passed it",
                self.follower,
                nid,
            )
        if found:
            self._arm()
        return skipped

    @property
    def ticking(self) -> bool:
        """Whether it checks on its own (idle with work pending)."""
        return self._ticker is not None

    def close(self) -> None:
        """Stop checking while idle (the follower stopped)."""
        self._closed.set()
        ticker = self._ticker
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join()

    def _idle_work(self) -> bool:
        return self.position > self.checked or bool(self.recent)

    def _arm(self) -> None:
        with self._arming:
            if self._ticker is not None or self._closed.is_set():
                return
            self._ticker = threading.Thread(
                target=self._tick, name=f"gaps-{self.follower}", daemon=True
            )
            self._ticker.start()

    def _tick(self) -> None:
        """Check every CHECK_INTERVAL while idle work remains; end when none does."""
        while True:
            wait = self._last_check + CHECK_INTERVAL - time.monotonic()
            if self._closed.wait(max(0.0, wait)):
                return
            if time.monotonic() - self._last_check < CHECK_INTERVAL:
                continue  # the follower checked meanwhile
            with self._arming:  # `observe` arms a new ticker once this one is gone
                if not self._idle_work():
                    self._ticker = None
                    return
            try:
                self.check()
            except Exception:  # e.g. the database is briefly away: the next tick retries
                log.warning("follower %s could not check its gaps", self.follower, exc_info=True)
                self._closed.wait(CHECK_INTERVAL)
