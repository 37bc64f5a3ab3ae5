"""Queries on the builds read model; rows are those of `build_rows`, the queries on a
build's parts those of `build_part_queries`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.build_part_queries import BuildPartQueries, output_of, statuses
from projections.build_rows import BuildRow
from projections.namespace_queries import joined_namespace
from projections.rows import NAMESPACE_COLUMNS, Page, like_pattern, user_columns, user_from

_BUILD_COLS = (
    "id",
    "number",
    "user_id",
    "namespace_id",
    "manifest",
    "status",
    "pinned",
    "created_at",
    "started_at",
    "finished_at",
    "trigger",
)


SELECT = (
    "SELECT "
    + ", ".join(f"b.{c}" for c in _BUILD_COLS)
    + f", {output_of('b', 'b.id', None)}"
    + ", ARRAY(SELECT t.name FROM build_tags t WHERE t.build_id = b.id "
    'ORDER BY t.name COLLATE "C") AS tags, '
    + ", ".join(f"n.{c} AS n_{c}" for c in NAMESPACE_COLUMNS)
    + ", NULL AS p_id, "
    + f"{user_columns('u', 'u_')}, {user_columns('nu', 'nu_')} "
    "FROM builds b JOIN users u ON u.id = b.user_id "
    "LEFT JOIN namespaces n ON n.id = b.namespace_id LEFT JOIN users nu ON nu.id = n.user_id "
)


# Builds a signed-in caller sees in the top-level list: their own, and those in trees they
# collaborate on (a tree they own holds only builds they own).
VISIBLE = (
    "(b.user_id = %(caller)s OR b.namespace_id IN (SELECT m.id FROM namespaces m "
    "WHERE m.root_id IN (SELECT c.root_id FROM collaborators c WHERE c.user_id = %(caller)s)))"
)
ORDER = "b.created_at DESC, b.id DESC"  # newest first


@dataclass(frozen=True)
class BuildFilters:
    """Filters of the build lists: exact `tag`, tag-name `search`, `status`, only `pinned`."""

    tag: str | None = None
    search: str | None = None
    status: str | None = None
    pinned: bool = False

    def where(self) -> tuple[str, dict[str, Any]]:
        """SQL conditions on `b` (joined with AND, leading AND included) and their params."""
        sql = ""
        params: dict[str, Any] = {}
        if self.tag:
            sql += " AND EXISTS (SELECT 1 FROM build_tags t WHERE t.build_id = b.id "
            sql += "AND t.name = %(f_tag)s)"
            params["f_tag"] = self.tag
        if self.search:
            sql += " AND EXISTS (SELECT 1 FROM build_tags t WHERE t.build_id = b.id "
            sql += "AND t.name ILIKE %(f_search)s)"
            params["f_search"] = like_pattern(self.search)
        if self.status:
            sql += " AND b.status = ANY(%(f_status)s)"
            params["f_status"] = statuses(self.status)
        if self.pinned:
            sql += " AND b.pinned"
        return sql, params


class BuildQueries(BuildPartQueries):
    """Builds: one, the lists of them, the claimable; and their parts."""

    def get(self, username: str, number: int) -> BuildRow | None:
        row = self.fetch_one(
            SELECT + "WHERE lower(u.username) = lower(%s) AND b.number = %s", (username, number)
        )
        return None if row is None else build_from(row)

    def get_by_id(self, build_id: int) -> BuildRow | None:
        row = self.fetch_one(SELECT + "WHERE b.id = %s", (build_id,))
        return None if row is None else build_from(row)

    def visible(
        self, caller_id: int, filters: BuildFilters, page: int, per_page: int
    ) -> tuple[list[BuildRow], Page]:
        """The caller's builds and those in trees they collaborate on, newest first."""
        return self._page(VISIBLE, {"caller": caller_id}, filters, page, per_page)

    def in_namespace(
        self, namespace_id: int, filters: BuildFilters, page: int, per_page: int
    ) -> tuple[list[BuildRow], Page]:
        """Builds in exactly this namespace (not its children), newest first."""
        return self._page("b.namespace_id = %(ns)s", {"ns": namespace_id}, filters, page, per_page)

    def for_object(
        self, object_id: int, filters: BuildFilters, page: int, per_page: int
    ) -> tuple[list[BuildRow], Page]:
        """Builds the object was attached to at submit time, newest first."""
        return self.linked("build_objects", "object_id", object_id, filters, page, per_page)

    def linked(
        self, table: str, column: str, value: int, filters: BuildFilters, page: int, per_page: int
    ) -> tuple[list[BuildRow], Page]:
        """Builds that a row of `table` links to `value` (in its `column`), newest first."""
        where = f"EXISTS (SELECT 1 FROM {table} l WHERE l.build_id = b.id AND l.{column} = %(v)s)"
        return self._page(where, {"v": value}, filters, page, per_page)

    def latest_in_namespace(self, namespace_id: int) -> BuildRow | None:
        row = self.fetch_one(
            SELECT + f"WHERE b.namespace_id = %s ORDER BY {ORDER} LIMIT 1", (namespace_id,)
        )
        return None if row is None else build_from(row)

    def _page(
        self,
        where: str,
        params: dict[str, Any],
        filters: BuildFilters,
        page: int,
        per_page: int,
    ) -> tuple[list[BuildRow], Page]:
        extra, extra_params = filters.where()
        params = {**params, **extra_params}
        rows, at = self.page(SELECT, "builds b", where + extra, ORDER, params, page, per_page)
        return [build_from(row) for row in rows], at

    def claimable(self, drivers: Sequence[str], now: datetime, limit: int) -> list[int]:
        """Ids of builds a worker with these driver types may claim, oldest first: queued
        ones, and running ones whose holder's lease ran out before `now` (orphans): the
        lease its claim recorded and its heartbeats (`infrastructure/leases.py`) both.

        Only a hint: the claim itself (a command on the Build aggregate) decides.
        """
        rows = self.fetch_all(
            "SELECT id FROM builds b WHERE driver->>'type' = ANY(%s) AND (status = 'queued' "
            "OR (status = 'running' AND lease_until < %s AND NOT EXISTS (SELECT FROM "
            "marid_build_leases l WHERE l.build_id = b.id AND l.lease_until >= %s))) "
            "ORDER BY created_at, id LIMIT %s",
            (list(drivers), now, now, limit),
        )
        return [int(row["id"]) for row in rows]


def build_from(row: dict[str, Any]) -> BuildRow:
    fields = {c: row[c] for c in (*_BUILD_COLS, "output")}
    namespace = joined_namespace(row)
    return BuildRow(**fields, user=user_from(row), namespace=namespace, tags=list(row["tags"]))
