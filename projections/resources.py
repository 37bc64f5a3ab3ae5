"""Queries on the read models of namespaced resources: a row with its people, visible sets.

Their write side is in resource_projection.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections.namespace_queries import joined_namespace
from projections.rows import (
    NAMESPACE_COLUMNS,
    NamespaceRow,
    Page,
    Queries,
    UserRow,
    like_pattern,
    user_columns,
    user_from,
)


@dataclass(frozen=True)
class ResourceRow:
    """A resource's own columns, with its author, owner and namespace."""

    fields: dict[str, Any]
    author: UserRow
    user: UserRow
    namespace: NamespaceRow | None

    @property
    def id(self) -> int:
        return int(self.fields["id"])

    @property
    def user_id(self) -> int:
        return int(self.fields["user_id"])


# Resources a signed-in caller sees in the top-level lists: their own, and those in trees
# they own or collaborate on.
VISIBLE = (
    "(r.user_id = %(caller)s OR r.namespace_id IN (SELECT m.id FROM namespaces m "
    "WHERE m.root_id IN (SELECT c.root_id FROM collaborators c WHERE c.user_id = %(caller)s)))"
)


class ResourceQueries(Queries):
    """Queries on one resource table; `name_column` is what search matches and lists sort by."""

    def __init__(self, datastore: Any, table: str, name_column: str) -> None:
        super().__init__(datastore)
        self.table = table
        self.name_column = name_column
        self.select = (
            "SELECT r.*, "
            + ", ".join(f"n.{c} AS n_{c}" for c in NAMESPACE_COLUMNS)
            + ", NULL AS p_id, "
            + f"{user_columns('a', 'a_')}, {user_columns('u', 'u_')}, {user_columns('nu', 'nu_')} "
            f"FROM {table} r JOIN users a ON a.id = r.author_id JOIN users u ON u.id = r.user_id "
            "LEFT JOIN namespaces n ON n.id = r.namespace_id "
            "LEFT JOIN users nu ON nu.id = n.user_id "
        )

    def get(self, resource_id: int) -> ResourceRow | None:
        row = self.fetch_one(self.select + "WHERE r.id = %s", (resource_id,))
        return None if row is None else self._row(row)

    def visible(
        self, caller_id: int, search: str | None, page: int, per_page: int
    ) -> tuple[list[ResourceRow], Page]:
        params = {"caller": caller_id, "search": like_pattern(search)}
        return self._page(
            f"{VISIBLE} AND r.{self.name_column} ILIKE %(search)s", params, page, per_page
        )

    def in_namespace(
        self, namespace_id: int, search: str | None, page: int, per_page: int
    ) -> tuple[list[ResourceRow], Page]:
        params = {"ns": namespace_id, "search": like_pattern(search)}
        where = f"r.namespace_id = %(ns)s AND r.{self.name_column} ILIKE %(search)s"
        return self._page(where, params, page, per_page)

    def _page(
        self, where: str, params: dict[str, Any], page: int, per_page: int
    ) -> tuple[list[ResourceRow], Page]:
        order = f"r.{self.name_column}, r.id"
        rows, at = self.page(self.select, f"{self.table} r", where, order, params, page, per_page)
        return [self._row(row) for row in rows], at

    def _row(self, row: dict[str, Any]) -> ResourceRow:
        fields = {k: v for k, v in row.items() if not k.startswith(("n_", "a_", "u_", "nu_", "p_"))}
        author, user = user_from(row, "a_"), user_from(row, "u_")
        return ResourceRow(fields, author, user, joined_namespace(row))
