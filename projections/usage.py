"""Storage usage per owner, from the read models: what `application.quotas` checks.

One query of three sums, each over the owner's rows found by an index on `user_id`
(objects, images, build artifacts), so a check reads the owner's rows only. A deleted
object or image is gone from its table; an artifact counts once collected (`size` set)
until it is deleted (`deleted_at`).
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresDatastore

from projections.rows import Queries

USED = (
    "SELECT (SELECT coalesce(sum(size), 0) FROM objects WHERE user_id = %(owner)s) "
    "+ (SELECT coalesce(sum(size), 0) FROM images WHERE user_id = %(owner)s) "
    "+ (SELECT coalesce(sum(size), 0) FROM build_artifacts WHERE user_id = %(owner)s "
    "AND size IS NOT NULL AND deleted_at IS NULL) AS used"
)


class ReadModelStorageUsage(Queries):
    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore)

    def used(self, owner_id: int) -> int:
        row = self.fetch_one(USED, {"owner": owner_id})
        return 0 if row is None else int(row["used"])
