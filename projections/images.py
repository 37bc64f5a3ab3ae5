"""The images read model, with the pending downloads that downloaders look for."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore

from domain.images import Image
from projections.base import View
from projections.resource_projection import (
    ResourceProjection,
    ResourceTables,
    resource_indexes,
    resource_table,
)
from projections.resources import ResourceQueries

PENDING = "download_source IS NOT NULL AND download_finished_at IS NULL"


class ImagesTables(ResourceTables):
    projection_name = "images"
    tables = resource_table(
        "images",
        "name text NOT NULL, driver text NOT NULL, blob_key text, size bigint, "
        "download_source text, download_error text, download_started_at timestamptz, "
        "download_finished_at timestamptz, created_at timestamptz NOT NULL",
    )
    indexes = {
        **resource_indexes("images"),
        "images_pending_idx": ("images", "", f"(id) WHERE {PENDING}"),
    }


class ImagesView(ImagesTables, View):
    """The images read model in PostgreSQL."""


class ImagesProjection(ResourceProjection[ImagesTables]):
    name = "images"
    process_event = ResourceProjection.dispatch(Image)

    def columns(self, event: Image.Created) -> dict[str, Any]:
        return {
            "name": event.name,
            "driver": event.driver,
            "blob_key": event.blob_key,
            "size": event.size,
            "download_source": event.download_source,
        }

    @process_event.register
    def download_claimed(self, event: Image.DownloadClaimed, tracking: Tracking) -> None:
        self.view.update(event.originator_id, {"download_started_at": event.at}, tracking)

    @process_event.register
    def download_finished(self, event: Image.DownloadFinished, tracking: Tracking) -> None:
        values = {
            "blob_key": event.blob_key,
            "size": event.size,
            "download_error": None,
            "download_finished_at": event.at,
        }
        self.view.update(event.originator_id, values, tracking)

    @process_event.register
    def download_failed(self, event: Image.DownloadFailed, tracking: Tracking) -> None:
        values = {"download_error": event.error, "download_finished_at": event.at}
        self.view.update(event.originator_id, values, tracking)


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
