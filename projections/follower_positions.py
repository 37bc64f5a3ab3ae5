"""Positions of the followers that keep no tracking table (build workers), for every process.

A read model's or the webhook dispatcher's position is its tracking table's; a worker's is
in its memory. `PositionReport` writes it to `follower_positions` as the worker advances:
at most once per `REPORT_INTERVAL` while it moves, every `HEARTBEAT` seconds while it is
idle (so that a report older than `STALE` means the worker is gone without saying so), and
once more on a clean stop. Rows not updated for `FORGET` are dropped: a worker named
`host:pid` gets a new row each start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from eventsourcing.postgres import PostgresDatastore

from projections.base import create_tables

log = logging.getLogger("marid.followers")

POSITIONS_TABLE = "follower_positions"
REPORT_INTERVAL = 1.0  # seconds between two writes while the position moves, at least
HEARTBEAT = 5.0  # seconds between two writes while it does not
STALE = 30.0  # seconds without a report after which a running follower is presumed gone
FORGET = "1 day"  # rows not updated for this long are dropped (a PostgreSQL interval)


@dataclass(frozen=True)
class Reported:
    """A follower's last report, as any process reads it."""

    name: str
    position: int
    topics: tuple[str, ...]
    age: float  # seconds since the report
    stopped: bool  # it stopped cleanly; otherwise a report older than STALE means gone

    @property
    def state(self) -> str:
        if self.stopped:
            return "stopped"
        return "stale" if self.age > STALE else "running"


def create_positions_table(datastore: PostgresDatastore) -> None:
    """The table `PositionReport` writes (made by `Marid.migrate`)."""
    create_tables(
        datastore,
        POSITIONS_TABLE,
        f"CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} (follower text PRIMARY KEY, "
        "position bigint NOT NULL, topics text[] NOT NULL, "
        "updated_at timestamptz NOT NULL DEFAULT now(), stopped_at timestamptz)",
    )


def reported(datastore: PostgresDatastore) -> list[Reported]:
    """Every follower that reported within FORGET, by name (none before `migrate`)."""
    with datastore.transaction(commit=False) as curs:
        curs.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (POSITIONS_TABLE,))
        row = curs.fetchone()
        if row is None or not row["found"]:
            return []
        curs.execute(
            "SELECT follower, position, topics, stopped_at IS NOT NULL AS stopped, "
            "greatest(0, extract(epoch FROM now() - updated_at)) AS age "
            f"FROM {POSITIONS_TABLE} WHERE updated_at > now() - %s::interval ORDER BY follower",
            (FORGET,),
        )
        rows = curs.fetchall()
    return [
        Reported(
            r["follower"], int(r["position"]), tuple(r["topics"]), float(r["age"]), r["stopped"]
        )
        for r in rows
    ]


class PositionReport:
    """Writes one follower's position to `follower_positions`, batched in time.

    `note` is called as often as the follower likes (each turn of its loop) and writes
    only when due; `stop` writes the last position and marks the follower stopped.
    """

    def __init__(self, datastore: PostgresDatastore, follower: str, topics: Sequence[str]) -> None:
        self.datastore = datastore
        self.follower = follower
        self.topics = list(topics)
        self.position: int | None = None  # last written
        self._written = 0.0  # when (monotonic); 0: never

    def note(self, position: int) -> bool:
        """Write `position` if a report is due; whether it wrote."""
        since = time.monotonic() - self._written
        moved = position != self.position
        if (moved and since >= REPORT_INTERVAL) or since >= HEARTBEAT:
            self._write(position, stopped=False)
            return True
        return False

    def stop(self, position: int) -> None:
        """Write the last position, marked stopped (if it ever reported)."""
        if self.position is None:
            return  # never reported (never ran, or the database was away): nothing to mark
        try:
            self._write(position, stopped=True)
        except Exception:  # e.g. the database went first: the report goes stale instead
            log.warning("%s could not report its stop", self.follower, exc_info=True)

    def _write(self, position: int, *, stopped: bool) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {POSITIONS_TABLE} AS p "
                "(follower, position, topics, updated_at, stopped_at) "
                "VALUES (%(follower)s, %(position)s, %(topics)s, now(), "
                "CASE WHEN %(stopped)s THEN now() END) "
                "ON CONFLICT (follower) DO UPDATE SET position = excluded.position, "
                "topics = excluded.topics, updated_at = excluded.updated_at, "
                "stopped_at = excluded.stopped_at",
                {
                    "follower": self.follower,
                    "position": position,
                    "topics": self.topics,
                    "stopped": stopped,
                },
            )
            if self._written == 0.0:  # on the first report: the table stays small
                curs.execute(
                    f"DELETE FROM {POSITIONS_TABLE} WHERE updated_at < now() - %s::interval",
                    (FORGET,),
                )
        self.position = position
        self._written = time.monotonic()
