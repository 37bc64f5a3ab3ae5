"""Read models in memory: the same intent methods as in PostgreSQL, rows in Python lists.

Unit tests feed a projection's handlers domain events and read the rows back, without a
database. A `MemoryView` keeps what the PostgreSQL view promises: each change and its
tracking record in one transaction (a failing change leaves nothing behind), exactly once,
every declared column in each row, and no NULL in a NOT NULL column or second row with a
taken key.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.popo import POPOTrackingRecorder

from projections.base import ReadModel, View
from projections.schema import TableShape
from projections.writes import Change, Rows, is_any_of

Table = list[dict[str, Any]]
R = TypeVar("R", bound=ReadModel)


class MemoryRows(Rows):
    """One transaction's writes on copies of the tables, and the notifications it sends."""

    def __init__(self, shapes: Mapping[str, TableShape], data: Mapping[str, Table]) -> None:
        self.shapes = shapes
        self.data = {table: [dict(row) for row in rows] for table, rows in data.items()}
        self.notifications: list[tuple[str, str]] = []

    def insert(self, table: str, *rows: Mapping[str, Any], skip_existing: bool = False) -> None:
        shape = self.shapes[table]
        for values in rows:
            self._known(table, values)
            row = {c.name: copy.deepcopy(values.get(c.name, c.default)) for c in shape.columns}
            self._complete(table, row)
            if self._taken(table, row):
                if skip_existing:
                    continue
                raise IntegrityError(f"duplicate key in {table}: {row}")
            self.data[table].append(row)

    def update(
        self, table: str, values: Mapping[str, Any], returning: str | None = None, **where: Any
    ) -> list[Any]:
        self._known(table, values)
        changed = []
        for row in self._matching(table, where):
            row.update(copy.deepcopy(dict(values)))
            self._complete(table, row)
            changed.append(row)
        return [row[returning] for row in changed] if returning else []

    def delete(self, table: str, returning: str | None = None, **where: Any) -> list[Any]:
        gone = self._matching(table, where)
        ids = {id(row) for row in gone}
        self.data[table] = [row for row in self.data[table] if id(row) not in ids]
        return [row[returning] for row in gone] if returning else []

    def find(self, table: str, **where: Any) -> dict[str, Any] | None:
        found = self._matching(table, where)
        return dict(found[0]) if found else None

    def notify(self, channel: str, payload: str) -> None:
        self.notifications.append((channel, payload))

    def _matching(self, table: str, where: Mapping[str, Any]) -> Table:
        if not where:
            raise ValueError("a write on every row of a table needs a condition")
        self._known(table, where)
        return [row for row in self.data[table] if _matches(row, where)]

    def _known(self, table: str, columns: Mapping[str, Any]) -> None:
        unknown = set(columns) - set(self.shapes[table].names)
        if unknown:
            raise KeyError(f"no column {', '.join(sorted(unknown))} in {table}")

    def _complete(self, table: str, row: dict[str, Any]) -> None:
        missing = [c.name for c in self.shapes[table].columns if c.not_null and row[c.name] is None]
        if missing:
            raise IntegrityError(f"NULL in NOT NULL column {', '.join(missing)} of {table}")

    def _taken(self, table: str, row: dict[str, Any]) -> bool:
        for key in self.shapes[table].keys:
            values = tuple(row[column] for column in key)
            if None in values:
                continue  # NULLs are never equal, as in a unique index
            if any(tuple(other[column] for column in key) == values for other in self.data[table]):
                return True
        return False


def _matches(row: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    for column, wanted in where.items():
        value = row[column]
        if value is None or not (value in wanted if is_any_of(wanted) else value == wanted):
            return False
    return True


class MemoryView(ReadModel, POPOTrackingRecorder):
    """A read model held in Python lists; `notifications` holds what it sent, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, Table] = {table: [] for table in self.tables}
        self.notifications: list[tuple[str, str]] = []

    def apply(self, tracking: Tracking, change: Change) -> None:
        with self._database_lock:
            current = self.max_tracking_id(tracking.application_name)
            if current is not None and current >= tracking.notification_id:
                return
            rows = MemoryRows(self.shapes(), self.data)
            change(rows)
            self.data = rows.data
            self.notifications += rows.notifications
            self._insert_tracking(tracking)

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        """Every row of a table, ordered by the columns named in `order_by` (a
        comma-separated list of names) or by all columns, NULLs last as in PostgreSQL."""
        names = [n.strip() for n in order_by.split(",")] if order_by else self.shapes()[table].names
        with self._database_lock:
            rows = [copy.deepcopy(row) for row in self.data[table]]
        return sorted(rows, key=lambda row: [_sort_key(row[name]) for name in names])


def _sort_key(value: Any) -> tuple[bool, Any]:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True, default=str)
    return (value is None, value if value is not None else 0)


_CLASSES: dict[type[ReadModel], type[MemoryView]] = {}


def in_memory(tables: type[R]) -> R:
    """A new in-memory implementation of a read model's intent layer `tables` (the class
    its PostgreSQL view extends with `View`)."""
    if issubclass(tables, View):
        raise TypeError(f"{tables.__name__} is a PostgreSQL view; pass its intent layer")
    memory = _CLASSES.get(tables)
    if memory is None:
        memory = cast(type[MemoryView], type(f"Memory{tables.__name__}", (tables, MemoryView), {}))
        _CLASSES[tables] = memory
    return cast(R, memory())
