"""The objects read model: each object's name, placement, type, size and digests."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.namespaces import Namespace
from domain.objects import Object
from projections.base import View
from projections.resources import COMMON_COLUMNS, delete_row, detach, resource_indexes


class ObjectsView(View):
    projection_name = "objects"
    tables = {
        "objects": f"({COMMON_COLUMNS}name text NOT NULL, type text NOT NULL, "
        "size bigint NOT NULL, md5 text NOT NULL, sha256 text NOT NULL, "
        "created_at timestamptz NOT NULL)"
    }
    indexes = resource_indexes("objects")


class ObjectsProjection(Projection[ObjectsView]):
    name = "objects"
    topics = tuple(get_topic(c) for c in (Object.Created, Object.Deleted, Namespace.Deleted))

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def created(self, event: Object.Created, tracking: Tracking) -> None:
        sql = (
            f"INSERT INTO {self.view.t('objects')} "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        values = (
            event.public_id,
            event.originator_id,
            event.owner_id,
            event.author_id,
            event.namespace_id,
            event.name,
            event.content_type,
            event.size,
            event.md5,
            event.sha256,
            event.timestamp,
        )
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def deleted(self, event: Object.Deleted, tracking: Tracking) -> None:
        delete_row(self.view, "objects", tracking, event.originator_id)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        detach(self.view, "objects", event.public_id, tracking)
