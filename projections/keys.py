"""The SSH keys read model. The private key is stored sealed, exactly as in the event."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from domain.keys import SshKey
from projections.base import View
from projections.resource_projection import (
    ResourceProjection,
    ResourceTables,
    resource_indexes,
    resource_table,
)


class KeysTables(ResourceTables):
    projection_name = "keys"
    tables = resource_table(
        "keys",
        "name text NOT NULL, key text NOT NULL, config text NOT NULL, "
        "created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL",
    )
    indexes = resource_indexes("keys")


class KeysView(KeysTables, View):
    """The keys read model in PostgreSQL."""


class KeysProjection(ResourceProjection[KeysTables]):
    name = "keys"
    process_event = ResourceProjection.dispatch(SshKey)

    def columns(self, event: SshKey.Created) -> dict[str, Any]:
        return {
            "name": event.name,
            "key": event.key,
            "config": event.config,
            "updated_at": event.timestamp,
        }

    @process_event.register
    def updated(self, event: SshKey.Updated, tracking: Tracking) -> None:
        values = {"config": event.config, "updated_at": event.timestamp}
        self.view.update(event.originator_id, values, tracking)
