"""The objects projection on its in-memory view: events in, rows out."""

from __future__ import annotations

from domain.objects import Object
from projections.memory import in_memory
from projections.objects import ObjectsProjection, ObjectsTables
from tests.unit.projection_support import APP, ORIGIN, feed


def test_created_object_records_its_type_size_and_digests() -> None:
    view = in_memory(ObjectsTables)
    obj = Object(
        public_id=5,
        owner_id=1,
        author_id=1,
        namespace_id=3,
        name="data.bin",
        content_type="application/octet-stream",
        size=1024,
        md5="d41d8",
        sha256="e3b0c",
        origin=ORIGIN,
    )
    created = obj.collect_events()

    feed(ObjectsProjection(view=view), created)
    feed(ObjectsProjection(view=view), created)  # the same notification again

    assert view.rows("objects") == [
        {
            "id": 5,
            "aggregate_id": obj.id,
            "user_id": 1,
            "author_id": 1,
            "namespace_id": 3,
            "name": "data.bin",
            "type": "application/octet-stream",
            "size": 1024,
            "md5": "d41d8",
            "sha256": "e3b0c",
            "created_at": obj.created_on,
        }
    ]
    assert view.max_tracking_id(APP) == 1
