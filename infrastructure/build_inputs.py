"""The BuildInputs port on the read models: what a new build snapshots."""

from __future__ import annotations

from typing import Any

from projections.rows import Queries

# The owner's personal rows first, then the namespace's, each group by name.
_WHERE = (
    "WHERE (user_id = %(owner)s AND namespace_id IS NULL) OR namespace_id = %(ns)s "
    "ORDER BY namespace_id IS NOT NULL, {name}, id"
)


class ReadModelBuildInputs(Queries):
    """Implements BuildInputs with SQL on the variables, keys and objects read models."""

    def variables(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return self.fetch_all(
            "SELECT id AS variable_id, key, value, masked FROM variables "
            + _WHERE.format(name="key"),
            {"owner": owner_id, "ns": namespace_id},
        )

    def keys(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return self.fetch_all(
            "SELECT id AS key_id, name, config, key FROM keys " + _WHERE.format(name="name"),
            {"owner": owner_id, "ns": namespace_id},
        )

    def objects(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return self.fetch_all(
            "SELECT id AS object_id, name FROM objects " + _WHERE.format(name="name"),
            {"owner": owner_id, "ns": namespace_id},
        )
