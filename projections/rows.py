"""Rows the read models answer with, and helpers shared by their queries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from eventsourcing.postgres import PostgresDatastore

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class AccountRow:
    """A user as `marid users list` shows them."""

    id: int
    username: str
    email: str
    created_at: datetime
    admin: bool
    disabled: bool


@dataclass(frozen=True)
class TokenRow:
    id: int
    user_id: int
    name: str
    scopes: str
    expires_at: datetime | None
    revoked: bool
    created_at: datetime
    app_id: int | None = None  # the OAuth app it was issued to; None: a personal token
    last_used_at: datetime | None = None  # to the minute (see UserQueries.authenticate)


@dataclass(frozen=True)
class AppRow:
    """An OAuth app, without its secret."""

    id: int
    user_id: int
    client_id: str
    name: str
    description: str
    homepage_uri: str
    redirect_uri: str
    created_at: datetime


@dataclass(frozen=True)
class ConnectionRow:
    """An app a user granted: the app and the user's live token for it."""

    app_id: int
    client_id: str
    name: str
    description: str
    homepage_uri: str
    token_id: int
    scopes: str
    granted_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class NamespaceRow:
    id: int
    user_id: int
    root_id: int
    parent_id: int | None
    name: str
    path: str
    description: str
    visibility: str
    created_at: datetime
    user: UserRow
    parent: NamespaceRow | None = None


# The columns of a namespace row, as the queries that join namespaces select them.
NAMESPACE_COLUMNS = (
    "id",
    "user_id",
    "root_id",
    "parent_id",
    "name",
    "path",
    "description",
    "visibility",
    "created_at",
)


@dataclass(frozen=True)
class Page:
    """A page of a list: 1-based `number` (clamped), `per_page`, and the total row count."""

    number: int
    per_page: int
    total: int

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    @classmethod
    def clamp(cls, requested: int, per_page: int, total: int) -> Page:
        last = max(1, -(-total // per_page))
        return cls(min(max(requested, 1), last), per_page, total)


def like_pattern(search: str | None) -> str:
    """A case-insensitive substring pattern for ILIKE, with wildcards in `search` escaped."""
    if not search:
        return "%"
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Queries:
    """Base of the query objects: single statements on the shared pool.

    Pool connections are in autocommit mode, so a statement is its own transaction (one
    snapshot) and costs one round trip: no BEGIN and ROLLBACK around each read.
    """

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def fetch_all(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with self.datastore.get_connection() as conn:
            return [dict(row) for row in conn.execute(sql, params).fetchall()]

    def fetch_one(self, sql: str, params: Any = None) -> dict[str, Any] | None:
        with self.datastore.get_connection() as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else dict(row)

    def count(self, sql: str, params: Any = None) -> int:
        row = self.fetch_one(sql, params)
        return int(row["count"]) if row else 0

    def page(
        self,
        select: str,
        source: str,
        where: str,
        order: str,
        params: dict[str, Any],
        page: int,
        per_page: int,
    ) -> tuple[list[dict[str, Any]], Page]:
        """A page of the rows of `select` (`SELECT ...` up to its FROM clause: `source` and
        its joins) that match `where`, in `order`; the page's total counts those rows in
        `source`.

        One statement reads the page and its total (an uncounted subquery PostgreSQL runs
        once), so both come from one snapshot. A page past the last one comes back empty:
        then the total is counted and the last page read instead.
        """
        if not select.startswith("SELECT "):
            raise ValueError(f"not a SELECT: {select[:40]!r}")
        paged = f"{select} WHERE {where} ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s"
        found = re.search(rf"\bFROM {re.escape(source)}(\s|$)", select)
        if found is None:
            raise ValueError(f"{select[:40]!r}... does not select FROM {source}")
        tables = select[found.start() :]
        if " JOIN " in tables:  # `source`'s alias must name a table whose `id` is unique
            # The page's ids first, then their joins: PostgreSQL joins every matching row
            # before it sorts and cuts a page, and drops from the inner query the outer
            # joins it does not need (to unique keys, unreferenced).
            key = f"{source.split()[-1]}.id"
            ids = f"SELECT {key} {tables} WHERE {where} ORDER BY {order} "
            ids += "LIMIT %(limit)s OFFSET %(offset)s"
            paged = f"{select} WHERE {key} = ANY(ARRAY({ids})) ORDER BY {order}"
        at = Page(max(page, 1), per_page, 0)
        rows = self.fetch_all(
            f"SELECT (SELECT count(*) FROM {source} WHERE {where}) AS _total, {paged[7:]}",
            {**params, "limit": per_page, "offset": at.offset},
        )
        if rows:
            total = int(rows[0]["_total"])
            for row in rows:
                del row["_total"]
            return rows, Page(at.number, per_page, total)
        total = self.count(f"SELECT count(*) AS count FROM {source} WHERE {where}", params)
        at = Page.clamp(page, per_page, total)
        if total == 0 or at.number == max(page, 1):
            return [], at
        return self.fetch_all(paged, {**params, "limit": per_page, "offset": at.offset}), at


def row_of(row_class: type[R], row: Mapping[str, Any]) -> R:
    """A row of `row_class` from a query's row with a column named like each of its fields."""
    return row_class(**{f.name: row[f.name] for f in fields(row_class)})


def user_from(row: dict[str, Any], prefix: str = "u_") -> UserRow:
    return UserRow(
        id=row[f"{prefix}id"],
        username=row[f"{prefix}username"],
        email=row[f"{prefix}email"],
        created_at=row[f"{prefix}created_at"],
    )


def user_columns(alias: str, prefix: str) -> str:
    return ", ".join(
        f"{alias}.{c} AS {prefix}{c}" for c in ("id", "username", "email", "created_at")
    )
