"""Base of every read model: its tables, the writes its intent methods make, and tracking.

A read model's intent layer (a `ReadModel` subclass: its tables and methods named after
what happened, like `add` or `detach_namespace`) is written once against `Rows`, the
named-column writes of one transaction. Two implementations run it: `View`, in
PostgreSQL, and `MemoryView` (projections/memory.py), in Python lists for unit tests.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from projections.schema import TableShape, table_shapes
from projections.sql_rows import SqlRows
from projections.writes import Change, Rows

Write = Callable[[Cursor[DictRow]], object]


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def create_tables(datastore: PostgresDatastore, name: str, *statements: str) -> None:
    """Run `CREATE ... IF NOT EXISTS` statements for `name` in one transaction, under a
    lock: processes migrate together, and concurrent `CREATE TABLE IF NOT EXISTS` of the
    same table can collide."""
    with datastore.transaction(commit=True) as curs:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(f"marid:ddl:{name}"),))
        for statement in statements:
            curs.execute(statement)


# A guarded write's locks: the swap lock shared (see `View`), the writer lock (`writer_lock`).
GUARD = "SELECT pg_advisory_xact_lock_shared(%s), pg_advisory_xact_lock(%s)"


def _nothing(rows: Rows) -> None:
    pass


class ReadModel(TrackingRecorder, ABC):
    """The tables of one read model and the transactions its intent methods apply."""

    projection_name: ClassVar[str]
    # logical table name -> column definitions
    tables: ClassVar[dict[str, str]]
    # index name -> (logical table, "UNIQUE" or "", column list)
    indexes: ClassVar[dict[str, tuple[str, str, str]]] = {}
    _shapes: ClassVar[dict[str, TableShape] | None] = None  # see `shapes`

    @abstractmethod
    def apply(self, tracking: Tracking, change: Change) -> None:
        """Apply `change` and record `tracking` in one transaction, exactly once: a
        notification the tracking record already covers is skipped (except in a rebuild's
        shadow tables, which one follower alone writes)."""

    @abstractmethod
    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        """Every row of a table; without `order_by`, ordered by all its columns."""

    def insert_tracking(self, tracking: Tracking) -> None:
        self.apply(tracking, _nothing)

    @classmethod
    def shapes(cls) -> dict[str, TableShape]:
        """Every table's shape, parsed once per class (writes look them up per event)."""
        found: dict[str, TableShape] | None = cls.__dict__.get("_shapes")
        if found is None:
            found = table_shapes(tuple(cls.tables.items()), tuple(cls.indexes.values()))
            cls._shapes = found  # on this class only: a subclass has its own tables
        return found

    # One-statement changes, for the intent methods that need no more.

    def _insert(self, tracking: Tracking, table: str, row: Mapping[str, Any]) -> None:
        self.apply(tracking, lambda rows: rows.insert(table, row))

    def _update(
        self, tracking: Tracking, table: str, values: Mapping[str, Any], **where: Any
    ) -> None:
        self.apply(tracking, lambda rows: rows.update(table, values, **where))

    def _delete(self, tracking: Tracking, table: str, **where: Any) -> None:
        self.apply(tracking, lambda rows: rows.delete(table, **where))


class AggregateTable(ReadModel):
    """A read model whose table, named after it, holds a row per live aggregate."""

    def add(self, row: Mapping[str, Any], tracking: Tracking) -> None:
        self._insert(tracking, self.projection_name, row)

    def update(self, aggregate_id: Any, values: Mapping[str, Any], tracking: Tracking) -> None:
        """Set these columns of the aggregate's row."""
        self._update(tracking, self.projection_name, values, aggregate_id=aggregate_id)

    def remove(self, aggregate_id: Any, tracking: Tracking) -> None:
        self._delete(tracking, self.projection_name, aggregate_id=aggregate_id)

    def remove_in_namespace(self, namespace_id: int, tracking: Tracking) -> None:
        """The rows in a deleted namespace go with it (they are not detached)."""
        self._delete(tracking, self.projection_name, namespace_id=namespace_id)

    def detach_namespace(self, namespace_id: int, tracking: Tracking) -> None:
        """The rows of a deleted namespace stay with their owners, in no namespace."""
        values = {"namespace_id": None}
        self._update(tracking, self.projection_name, values, namespace_id=namespace_id)


class View(ReadModel, PostgresTrackingRecorder):
    """A read model in PostgreSQL: its tables plus its tracking record.

    `suffix` names a shadow copy built by a rebuild. Live writes take a shared advisory
    lock that a rebuild takes exclusively while it swaps tables, and skip events that the
    tracking record already covers, so a swap never loses or repeats an event.
    """

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

    @property
    def writer_lock(self) -> int:
        """Held while a transaction reads the tracking record and writes: a leader that lost
        its lock and still applies a batch, and the new leader, take turns, so the second
        sees what the first recorded (the tracking upsert alone lets a longer batch repeat
        the events of a shorter one that committed meanwhile)."""
        return lock_key(f"marid:writer:{self.projection_name}")

    # Whether a follower may apply several events in one transaction (`batch`).
    batchable: ClassVar[bool] = True

    def write(self, tracking: Tracking, change: Write) -> None:
        """Apply `change` and record `tracking` in one transaction, exactly once (inside
        `batch`, in the batch's transaction)."""
        batch: _Batch | None = getattr(self._batches, "current", None)
        if batch is not None:
            if batch.done is None or tracking.notification_id > batch.done:
                change(batch.curs)
            return
        with self.datastore.transaction(commit=True) as curs:
            if self.guarded:
                curs.execute(GUARD, (self.swap_lock, self.writer_lock))
                current = self._max_tracking_id(tracking.application_name, curs)
                if current is not None and current >= tracking.notification_id:
                    return
            change(curs)
            self._insert_tracking(curs, tracking)

    @contextmanager
    def batch(self, last: Tracking) -> Iterator[None]:
        """The writes of the events up to `last` made in this thread meanwhile, in one
        transaction that records `last`: a follower pays one commit per batch of events
        rather than one per event. Events the tracking record already covers are skipped."""
        with self.datastore.transaction(commit=True) as curs:
            done = None
            if self.guarded:
                curs.execute(GUARD, (self.swap_lock, self.writer_lock))
                done = self._max_tracking_id(last.application_name, curs)
            self._batches.current = _Batch(curs, done)
            try:
                # Pipelined: writes go out without waiting for each answer (a read, or the
                # end of the batch, waits for those before it; an error fails the batch).
                with curs.connection.pipeline():
                    yield
            finally:
                self._batches.current = None
            if done is None or last.notification_id > done:
                self._insert_tracking(curs, last)

    @property
    def _batches(self) -> threading.local:
        local: threading.local | None = self.__dict__.get("_batch_local")
        if local is None:
            local = self.__dict__.setdefault("_batch_local", threading.local())
        return local

    def apply(self, tracking: Tracking, change: Change) -> None:
        shapes = self.shapes()
        self.write(tracking, lambda curs: change(SqlRows(curs, self.t, shapes, self.guarded)))

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


class _Batch:
    """The transaction of a `View.batch` and the tracking id it started from."""

    def __init__(self, curs: Cursor[DictRow], done: int | None) -> None:
        self.curs = curs
        self.done = done
