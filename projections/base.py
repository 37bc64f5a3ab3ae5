"""Base of every read model: its tables, and writes that record tracking in the same transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

Write = Callable[[Cursor[DictRow]], object]


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class View(PostgresTrackingRecorder):
    """Tables of one read model plus its tracking record.

    `suffix` names a shadow copy built by a rebuild. Live writes take a shared advisory
    lock that a rebuild takes exclusively while it swaps tables, and skip events that the
    tracking record already covers, so a swap never loses or repeats an event.
    """

    projection_name: ClassVar[str]
    # logical table name -> column definitions
    tables: ClassVar[dict[str, str]]
    # index name -> (logical table, "UNIQUE" or "", column list)
    indexes: ClassVar[dict[str, tuple[str, str, str]]] = {}

    def __init__(self, datastore: PostgresDatastore, suffix: str = "", **kwargs: Any) -> None:
        self.suffix = suffix
        self.guarded = not suffix
        super().__init__(
            datastore, tracking_table_name=f"{self.projection_name}{suffix}_tracking", **kwargs
        )
        for table, columns in self.tables.items():
            self.sql_create_statements.append(
                SQL(f"CREATE TABLE IF NOT EXISTS {self.t(table)} {columns}").format()
            )
        for index, (table, unique, columns) in self.indexes.items():
            self.sql_create_statements.append(
                SQL(
                    f"CREATE {unique} INDEX IF NOT EXISTS {index}{suffix} "
                    f"ON {self.t(table)} {columns}"
                ).format()
            )

    def t(self, table: str) -> str:
        """The physical name of a logical table of this (live or shadow) view."""
        return f"{table}{self.suffix}"

    @property
    def swap_lock(self) -> int:
        return lock_key(f"marid:swap:{self.projection_name}")

    def write(self, tracking: Tracking, change: Write) -> None:
        """Apply `change` and record `tracking` in one transaction, exactly once."""
        with self.datastore.transaction(commit=True) as curs:
            if self.guarded:
                curs.execute("SELECT pg_advisory_xact_lock_shared(%s)", (self.swap_lock,))
                current = self._max_tracking_id(tracking.application_name, curs)
                if current is not None and current >= tracking.notification_id:
                    return
            change(curs)
            self._insert_tracking(curs, tracking)

    def insert_tracking(self, tracking: Tracking) -> None:
        self.write(tracking, lambda curs: None)

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        """Every row of a table, for rebuild comparisons and audits.

        Without `order_by` the rows are ordered by all their columns, a total order on any
        table whose column types are comparable (not every table has an `id`; a `json`
        column is not comparable, use `jsonb` or pass `order_by`).
        """
        order = order_by or "r"
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL(f"SELECT * FROM {self.t(table)} AS r ORDER BY {order}").format())
            return [dict(row) for row in curs.fetchall()]
