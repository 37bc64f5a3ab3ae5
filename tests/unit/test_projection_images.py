"""The images projection on its in-memory view: an image and its download, as rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.images import Image
from projections.images import ImagesProjection, ImagesTables
from projections.memory import in_memory
from tests.unit.projection_support import APP, ORIGIN, feed

AT = datetime(2030, 5, 1, 12, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def downloaded_image() -> Image:
    return Image(
        public_id=6,
        owner_id=1,
        author_id=2,
        namespace_id=None,
        name="debian",
        driver="qemu",
        blob_key=None,
        size=None,
        sha256=None,
        download_source="https://example.com/debian.qcow2",
        download_url="sealed:url",
        origin=ORIGIN,
    )


def test_image_to_download_is_pending_until_its_download_finishes() -> None:
    view = in_memory(ImagesTables)
    projection = ImagesProjection(view=view)
    image = downloaded_image()
    last = feed(projection, image.collect_events())
    pending = view.rows("images")
    image.claim_download("d1", AT, LEASE, ORIGIN)
    last = feed(projection, image.collect_events(), first=last + 1)
    claimed = view.rows("images")

    image.finish_download("d1", "images/6", 2048, "e3b0c", AT + LEASE, ORIGIN)
    feed(projection, image.collect_events(), first=last + 1)

    assert pending == [
        {
            "id": 6,
            "aggregate_id": image.id,
            "user_id": 1,
            "author_id": 2,
            "namespace_id": None,
            "name": "debian",
            "driver": "qemu",
            "blob_key": None,
            "size": None,
            "download_source": "https://example.com/debian.qcow2",
            "download_error": None,
            "download_started_at": None,
            "download_finished_at": None,
            "created_at": image.created_on,
        }
    ]
    assert claimed[0]["download_started_at"] == AT
    [row] = view.rows("images")
    assert (row["blob_key"], row["size"], row["download_error"]) == ("images/6", 2048, None)
    assert (row["download_started_at"], row["download_finished_at"]) == (AT, AT + LEASE)


def test_failed_download_records_the_error_once() -> None:
    view = in_memory(ImagesTables)
    projection = ImagesProjection(view=view)
    image = downloaded_image()
    image.claim_download("d1", AT, LEASE, ORIGIN)
    last = feed(projection, image.collect_events())
    image.fail_download("d1", "404 Not Found", AT + LEASE, ORIGIN)
    failed = image.collect_events()

    feed(projection, failed, first=last + 1)
    feed(projection, failed, first=last + 1)

    [row] = view.rows("images")
    assert (row["download_error"], row["download_finished_at"]) == ("404 Not Found", AT + LEASE)
    assert row["blob_key"] is None
    assert view.max_tracking_id(APP) == last + 1
