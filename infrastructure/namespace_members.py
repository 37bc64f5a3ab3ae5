"""The NamespaceMembers port on the read models: what goes with a deleted namespace."""

from __future__ import annotations

from collections.abc import Collection

from projections.rows import Queries


class ReadModelNamespaceMembers(Queries):
    """Implements NamespaceMembers with SQL on the crons and webhooks read models."""

    def crons(self, namespace_ids: Collection[int]) -> list[int]:
        return self._ids("crons", namespace_ids)

    def webhooks(self, namespace_ids: Collection[int]) -> list[int]:
        return self._ids("webhooks", namespace_ids)

    def _ids(self, table: str, namespace_ids: Collection[int]) -> list[int]:
        rows = self.fetch_all(
            f"SELECT id FROM {table} WHERE namespace_id = ANY(%s) ORDER BY id",
            (list(namespace_ids),),
        )
        return [int(row["id"]) for row in rows]
