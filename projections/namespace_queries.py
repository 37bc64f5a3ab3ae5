"""Queries on the namespaces read model; visibility is part of each list query."""

from __future__ import annotations

from typing import Any

from projections.rows import (
    NAMESPACE_COLUMNS,
    NamespaceRow,
    Page,
    Queries,
    like_pattern,
    user_columns,
    user_from,
)

SELECT = (
    "SELECT "
    + ", ".join(f"n.{c} AS n_{c}" for c in NAMESPACE_COLUMNS)
    + ", "
    + ", ".join(f"p.{c} AS p_{c}" for c in NAMESPACE_COLUMNS)
    + f", {user_columns('u', 'u_')}, {user_columns('pu', 'pu_')} "
    "FROM namespaces n JOIN users u ON u.id = n.user_id "
    "LEFT JOIN namespaces p ON p.id = n.parent_id LEFT JOIN users pu ON pu.id = p.user_id "
)

# Namespaces a signed-in caller owns or collaborates on (the personal lists).
MEMBER = (
    "(n.user_id = %(caller)s OR n.root_id IN "
    "(SELECT c.root_id FROM collaborators c WHERE c.user_id = %(caller)s))"
)


def joined_namespace(row: dict[str, Any]) -> NamespaceRow | None:
    """The namespace of a resource or build row, selected as `n_` columns with its owner's
    as `nu_` (and no parent), or None for a row in no namespace."""
    if row["n_id"] is None:
        return None
    owner = {f"u_{c}": row[f"nu_{c}"] for c in ("id", "username", "email", "created_at")}
    return namespace_from({**row, **owner})


def namespace_from(row: dict[str, Any]) -> NamespaceRow:
    parent = None
    if row["p_id"] is not None:
        parent = _namespace(row, "p_", user_from(row, "pu_"), None)
    return _namespace(row, "n_", user_from(row, "u_"), parent)


def _namespace(row: dict[str, Any], p: str, user: Any, parent: NamespaceRow | None) -> NamespaceRow:
    return NamespaceRow(
        id=row[f"{p}id"],
        user_id=row[f"{p}user_id"],
        root_id=row[f"{p}root_id"],
        parent_id=row[f"{p}parent_id"],
        name=row[f"{p}name"],
        path=row[f"{p}path"],
        description=row[f"{p}description"],
        visibility=row[f"{p}visibility"],
        created_at=row[f"{p}created_at"],
        user=user,
        parent=parent,
    )


class NamespaceQueries(Queries):
    def get(self, username: str, path: str) -> NamespaceRow | None:
        row = self.fetch_one(
            SELECT + "WHERE lower(u.username) = lower(%s) AND n.path = %s", (username, path)
        )
        return None if row is None else namespace_from(row)

    def get_by_id(self, namespace_id: int) -> NamespaceRow | None:
        row = self.fetch_one(SELECT + "WHERE n.id = %s", (namespace_id,))
        return None if row is None else namespace_from(row)

    def collaborator_ids(self, root_id: int) -> list[int]:
        rows = self.fetch_all("SELECT user_id FROM collaborators WHERE root_id = %s", (root_id,))
        return [row["user_id"] for row in rows]

    def collaborators(self, root_id: int) -> list[dict[str, Any]]:
        """Collaborators of a tree with their user fields, by username."""
        return self.fetch_all(
            f"SELECT {user_columns('u', 'u_')}, c.created_at AS c_created_at FROM collaborators c "
            "JOIN users u ON u.id = c.user_id WHERE c.root_id = %s ORDER BY u.username",
            (root_id,),
        )

    def list_for_member(
        self, caller_id: int, search: str | None, page: int, per_page: int
    ) -> tuple[list[NamespaceRow], Page]:
        """The caller's namespaces and those of trees they collaborate on, by path."""
        params = {"caller": caller_id, "search": like_pattern(search)}
        return self._page(MEMBER + " AND n.path ILIKE %(search)s", params, page, per_page)

    def children(
        self, namespace_id: int, search: str | None, page: int, per_page: int
    ) -> tuple[list[NamespaceRow], Page]:
        params = {"parent": namespace_id, "search": like_pattern(search)}
        return self._page(
            "n.parent_id = %(parent)s AND n.path ILIKE %(search)s", params, page, per_page
        )

    def _page(
        self, where: str, params: dict[str, Any], page: int, per_page: int
    ) -> tuple[list[NamespaceRow], Page]:
        order = "n.path, u.username, n.id"
        rows, at = self.page(SELECT, "namespaces n", where, order, params, page, per_page)
        return [namespace_from(row) for row in rows], at
