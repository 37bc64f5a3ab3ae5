"""Failed sign-ins in PostgreSQL (the `SignInThrottle` port): `marid_sign_in_failures`.

One row per failure and key (`account:<id>`, `address:<ip>`), shared by every API
process, so that a client cannot spread its guesses over several nodes. Operational
data, not events: rows older than the window are pruned as failures are recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from eventsourcing.postgres import PostgresDatastore

from application.account_ports import WINDOW
from projections.base import create_tables

TABLE = "marid_sign_in_failures"


class PostgresSignInThrottle:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def create_table(self) -> None:
        """Create the table if it is missing (safe to call from several processes at once)."""
        create_tables(
            self.datastore,
            TABLE,
            f"CREATE TABLE IF NOT EXISTS {TABLE} (key text NOT NULL, at timestamptz NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_key_idx ON {TABLE} (key, at)",
        )

    def failures(self, keys: Iterable[str], since: datetime) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT key, count(*) AS n FROM {TABLE} WHERE key = ANY(%s) AND at > %s "
                "GROUP BY key",
                (list(keys), since),
            )
            return {row["key"]: int(row["n"]) for row in curs.fetchall()}

    def record_failure(self, keys: Iterable[str], at: datetime) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(
                f"INSERT INTO {TABLE} (key, at) VALUES (%s, %s)", [(k, at) for k in keys]
            )
            # Each failure prunes what no longer counts, so the table stays small.
            curs.execute(f"DELETE FROM {TABLE} WHERE at < %s", (at - WINDOW,))

    def clear(self, key: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(f"DELETE FROM {TABLE} WHERE key = %s", (key,))

    def prune(self, before: datetime) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(f"DELETE FROM {TABLE} WHERE at < %s", (before,))
