"""The images read model, with the pending downloads that downloaders look for."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.images import Image
from domain.namespaces import Namespace
from projections.base import View
from projections.resources import (
    COMMON_COLUMNS,
    ResourceQueries,
    delete_row,
    detach,
    resource_indexes,
)

PENDING = "download_source IS NOT NULL AND download_finished_at IS NULL"


class ImagesView(View):
    projection_name = "images"
    tables = {
        "images": f"({COMMON_COLUMNS}name text NOT NULL, driver text NOT NULL, blob_key text, "
        "size bigint, download_source text, download_error text, "
        "download_started_at timestamptz, download_finished_at timestamptz, "
        "created_at timestamptz NOT NULL)"
    }
    indexes = {
        **resource_indexes("images"),
        "images_pending_idx": ("images", "", f"(id) WHERE {PENDING}"),
    }


class ImagesProjection(Projection[ImagesView]):
    name = "images"
    topics = tuple(
        get_topic(c)
        for c in (
            Image.Created,
            Image.DownloadClaimed,
            Image.DownloadFinished,
            Image.DownloadFailed,
            Image.Deleted,
            Namespace.Deleted,
        )
    )

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def created(self, event: Image.Created, tracking: Tracking) -> None:
        sql = (
            f"INSERT INTO {self.view.t('images')} (id, aggregate_id, user_id, author_id, "
            "namespace_id, name, driver, blob_key, size, download_source, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        values = (
            event.public_id,
            event.originator_id,
            event.owner_id,
            event.author_id,
            event.namespace_id,
            event.name,
            event.driver,
            event.blob_key,
            event.size,
            event.download_source,
            event.timestamp,
        )
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def download_claimed(self, event: Image.DownloadClaimed, tracking: Tracking) -> None:
        self._update(tracking, event, "download_started_at = %s", event.at)

    @process_event.register
    def download_finished(self, event: Image.DownloadFinished, tracking: Tracking) -> None:
        columns = "blob_key = %s, size = %s, download_error = NULL, download_finished_at = %s"
        self._update(tracking, event, columns, event.blob_key, event.size, event.at)

    @process_event.register
    def download_failed(self, event: Image.DownloadFailed, tracking: Tracking) -> None:
        columns = "download_error = %s, download_finished_at = %s"
        self._update(tracking, event, columns, event.error, event.at)

    @process_event.register
    def deleted(self, event: Image.Deleted, tracking: Tracking) -> None:
        delete_row(self.view, "images", tracking, event.originator_id)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        detach(self.view, "images", event.public_id, tracking)

    def _update(
        self, tracking: Tracking, event: Image.Event, columns: str, *values: object
    ) -> None:
        sql = f"UPDATE {self.view.t('images')} SET {columns} WHERE aggregate_id = %s"
        params = (*values, event.originator_id)
        self.view.write(tracking, lambda c: c.execute(sql, params))


class ImageQueries(ResourceQueries):
    """Image lists and rows, and the downloads still to be fetched."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, "images", "name")

    def pending_downloads(self, limit: int = 100) -> list[int]:
        """Ids of images whose download has not finished, oldest first."""
        rows = self.fetch_all(
            f"SELECT id FROM images WHERE {PENDING} ORDER BY id LIMIT %(limit)s", {"limit": limit}
        )
        return [int(row["id"]) for row in rows]
