"""The SSH keys read model. The private key is stored sealed, exactly as in the event."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.keys import SshKey
from domain.namespaces import Namespace
from projections.base import View
from projections.resources import COMMON_COLUMNS, delete_row, detach, resource_indexes


class KeysView(View):
    projection_name = "keys"
    tables = {
        "keys": f"({COMMON_COLUMNS}name text NOT NULL, key text NOT NULL, "
        "config text NOT NULL, created_at timestamptz NOT NULL, "
        "updated_at timestamptz NOT NULL)"
    }
    indexes = resource_indexes("keys")


class KeysProjection(Projection[KeysView]):
    name = "keys"
    topics = tuple(
        get_topic(c) for c in (SshKey.Created, SshKey.Updated, SshKey.Deleted, Namespace.Deleted)
    )

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def created(self, event: SshKey.Created, tracking: Tracking) -> None:
        sql = f"INSERT INTO {self.view.t('keys')} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        values = (
            event.public_id,
            event.originator_id,
            event.owner_id,
            event.author_id,
            event.namespace_id,
            event.name,
            event.key,
            event.config,
            event.timestamp,
            event.timestamp,
        )
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def updated(self, event: SshKey.Updated, tracking: Tracking) -> None:
        sql = (
            f"UPDATE {self.view.t('keys')} SET config = %s, updated_at = %s WHERE aggregate_id = %s"
        )
        values = (event.config, event.timestamp, event.originator_id)
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def deleted(self, event: SshKey.Deleted, tracking: Tracking) -> None:
        delete_row(self.view, "keys", tracking, event.originator_id)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        detach(self.view, "keys", event.public_id, tracking)
