"""The objects read model: each object's name, placement, type, size and digests."""

from __future__ import annotations

from typing import Any

from domain.objects import Object
from projections.base import View
from projections.resource_projection import (
    ResourceProjection,
    ResourceTables,
    resource_indexes,
    resource_table,
)


class ObjectsTables(ResourceTables):
    projection_name = "objects"
    tables = resource_table(
        "objects",
        "name text NOT NULL, type text NOT NULL, size bigint NOT NULL, md5 text NOT NULL, "
        "sha256 text NOT NULL, created_at timestamptz NOT NULL",
    )
    indexes = resource_indexes("objects")


class ObjectsView(ObjectsTables, View):
    """The objects read model in PostgreSQL."""


class ObjectsProjection(ResourceProjection[ObjectsTables]):
    name = "objects"
    process_event = ResourceProjection.dispatch(Object)

    def columns(self, event: Object.Created) -> dict[str, Any]:
        return {
            "name": event.name,
            "type": event.content_type,
            "size": event.size,
            "md5": event.md5,
            "sha256": event.sha256,
        }
