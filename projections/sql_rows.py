"""`Rows` in PostgreSQL: each call one statement on the view's (live or shadow) tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from projections.schema import TableShape
from projections.writes import Rows, is_any_of


class SqlRows(Rows):
    """Writes through one transaction's cursor; `physical` maps a logical table to the
    view's own (`variables` to `variables_rb1a2b3c4d` in a shadow), and notifications are
    sent only from the `live` tables."""

    def __init__(
        self,
        curs: Cursor[DictRow],
        physical: Callable[[str], str],
        shapes: Mapping[str, TableShape],
        live: bool,
    ) -> None:
        self.curs = curs
        self.physical = physical
        self.shapes = shapes
        self.live = live

    def insert(self, table: str, *rows: Mapping[str, Any], skip_existing: bool = False) -> None:
        if not rows:
            return
        columns = list(rows[0])
        sql = (
            f"INSERT INTO {self.physical(table)} ({', '.join(columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})"
        )
        if skip_existing:
            sql += " ON CONFLICT DO NOTHING"
        params = [self._values(table, {c: row[c] for c in columns}) for row in rows]
        if len(params) == 1:
            self.curs.execute(sql, params[0])
        else:
            self.curs.executemany(sql, params)

    def update(
        self, table: str, values: Mapping[str, Any], returning: str | None = None, **where: Any
    ) -> list[Any]:
        condition, args = self._where(where)
        assignments = ", ".join(f"{column} = %s" for column in values)
        sql = f"UPDATE {self.physical(table)} SET {assignments} WHERE {condition}"
        return self._run(sql, (*self._values(table, values), *args), returning)

    def delete(self, table: str, returning: str | None = None, **where: Any) -> list[Any]:
        condition, args = self._where(where)
        return self._run(f"DELETE FROM {self.physical(table)} WHERE {condition}", args, returning)

    def find(self, table: str, **where: Any) -> dict[str, Any] | None:
        condition, args = self._where(where)
        self.curs.execute(f"SELECT * FROM {self.physical(table)} WHERE {condition} LIMIT 1", args)
        row = self.curs.fetchone()
        return None if row is None else dict(row)

    def notify(self, channel: str, payload: str) -> None:
        if self.live:
            self.curs.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def _run(self, sql: str, params: tuple[Any, ...], returning: str | None) -> list[Any]:
        if returning is None:
            self.curs.execute(sql, params)
            return []
        self.curs.execute(f"{sql} RETURNING {returning}", params)
        return [row[returning] for row in self.curs.fetchall()]

    def _values(self, table: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The parameters of `values`, jsonb columns adapted."""
        json = self.shapes[table].jsonb
        return tuple(
            Jsonb(value) if column in json and value is not None else value
            for column, value in values.items()
        )

    @staticmethod
    def _where(where: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        if not where:
            raise ValueError("a write on every row of a table needs a condition")
        conditions = [
            f"{column} = ANY(%s)" if is_any_of(value) else f"{column} = %s"
            for column, value in where.items()
        ]
        args = tuple(list(value) if is_any_of(value) else value for value in where.values())
        return " AND ".join(conditions), args
