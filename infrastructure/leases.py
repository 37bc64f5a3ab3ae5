"""Build leases in PostgreSQL (the `Leases` port): one row per claimed build, `marid_build_leases`.

A worker renews its lease every third of it, so these rows change every few seconds while
builds run: data about the present, not history, kept out of the event log (like build
output). One row per build (the primary key), naming the claim that holds it: taking a
lease over is then one `INSERT ... ON CONFLICT DO UPDATE ... WHERE`, which PostgreSQL
applies to the row as it is after any concurrent renewal has committed. Of a renewal and a
takeover racing, whichever comes second sees the first: the renewal is refused, or the
takeover finds the lease live. Whether a lease is live is decided on the database's
clock (`now()`), never the worker's: machines' clocks differ.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.postgres import PostgresDatastore

from projections.base import create_tables

TABLE = "marid_build_leases"


class PostgresLeases:
    """The leases of every process that runs builds against one database."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def create_table(self) -> None:
        """Create the table if it is missing (safe to call from several processes at once)."""
        # Room on each page for the renewed row: renewals stay HOT updates.
        create_tables(
            self.datastore,
            TABLE,
            f"CREATE TABLE IF NOT EXISTS {TABLE} (build_id bigint PRIMARY KEY, "
            "claim text NOT NULL, lease_until timestamptz NOT NULL) WITH (fillfactor = 50)",
        )

    def acquire(self, build_id: int, claim: str, until: datetime, now: datetime) -> bool:
        """`now` is the caller's clock, which is not trusted: whether another claim's lease
        still runs is judged by the database's clock, the one clock every machine shares,
        so a worker whose clock runs ahead cannot take a live lease over."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {TABLE} AS held (build_id, claim, lease_until) VALUES (%s, %s, %s) "
                "ON CONFLICT (build_id) DO UPDATE SET claim = excluded.claim, "
                "lease_until = excluded.lease_until "
                "WHERE held.claim = excluded.claim OR held.lease_until < now() "
                "RETURNING build_id",
                (build_id, claim, until),
            )
            return curs.fetchone() is not None

    def renew(self, build_id: int, claim: str, until: datetime) -> bool:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"UPDATE {TABLE} SET lease_until = %s WHERE build_id = %s AND claim = %s",
                (until, build_id, claim),
            )
            return curs.rowcount == 1

    def expiry(self, build_id: int, claim: str) -> datetime | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT lease_until FROM {TABLE} WHERE build_id = %s AND claim = %s",
                (build_id, claim),
            )
            row = curs.fetchone()
        return None if row is None else row["lease_until"]

    def release(self, build_id: int, claim: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"DELETE FROM {TABLE} WHERE build_id = %s AND claim = %s", (build_id, claim)
            )

    def now(self) -> datetime:
        """PostgreSQL's clock: every worker measures leases by the same one."""
        with self.datastore.get_connection() as conn:
            row = conn.execute("SELECT clock_timestamp() AS now").fetchone()
        assert row is not None
        now: datetime = row["now"]
        return now
