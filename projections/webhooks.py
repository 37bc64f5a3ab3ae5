"""The webhooks read model: every live webhook, by namespace.

The secret is kept sealed, exactly as in the event, for the delivery side; the API never
reads it. A deleted namespace takes its webhooks with it (they are not detached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking

from domain.namespaces import Namespace
from domain.webhooks import Webhook
from projections.base import AggregateTable, View
from projections.handling import ReadModelProjection, created_row, handlers
from projections.rows import Queries, row_of


class WebhooksTables(AggregateTable):
    projection_name = "webhooks"
    tables = {
        "webhooks": "(id bigint PRIMARY KEY, aggregate_id uuid NOT NULL, "
        "user_id bigint NOT NULL, author_id bigint NOT NULL, namespace_id bigint NOT NULL, "
        "payload_url text NOT NULL, ssl boolean NOT NULL, active boolean NOT NULL, "
        "events jsonb NOT NULL, secret text, created_at timestamptz NOT NULL, "
        "updated_at timestamptz NOT NULL)"
    }
    indexes = {
        "webhooks_aggregate_idx": ("webhooks", "UNIQUE", "(aggregate_id)"),
        "webhooks_namespace_idx": ("webhooks", "", "(namespace_id)"),
    }


class WebhooksView(WebhooksTables, View):
    """The webhooks read model in PostgreSQL."""


class WebhooksProjection(ReadModelProjection[WebhooksTables]):
    name = "webhooks"
    process_event = handlers()

    @process_event.register
    def created(self, event: Webhook.Created, tracking: Tracking) -> None:
        row = created_row(event, "user_id", "author_id", "namespace_id")
        self.view.add({**row, **self._settings(event)}, tracking)

    @process_event.register
    def updated(self, event: Webhook.Updated, tracking: Tracking) -> None:
        self.view.update(event.originator_id, self._settings(event), tracking)

    @process_event.register
    def deleted(self, event: Webhook.Deleted, tracking: Tracking) -> None:
        self.view.remove(event.originator_id, tracking)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        """A deleted namespace's webhooks go with it (CONTRACT "Namespaces and access")."""
        self.view.remove_in_namespace(event.public_id, tracking)

    @staticmethod
    def _settings(event: Webhook.Created | Webhook.Updated) -> dict[str, Any]:
        """What a webhook's creation and each update set (the secret kept sealed)."""
        return {
            "payload_url": event.payload_url,
            "ssl": event.ssl,
            "active": event.active,
            "events": event.events,
            "secret": event.secret,
            "updated_at": event.timestamp,
        }


@dataclass(frozen=True)
class WebhookRow:
    """A webhook as the API shows it (no secret: `has_secret` says whether one is set)."""

    id: int
    user_id: int
    author_id: int
    namespace_id: int
    payload_url: str
    ssl: bool
    active: bool
    events: list[str]
    has_secret: bool


SELECT = (
    "SELECT id, user_id, author_id, namespace_id, payload_url, ssl, active, events, "
    "secret IS NOT NULL AS has_secret FROM webhooks "
)


class WebhookQueries(Queries):
    def get(self, webhook_id: int) -> WebhookRow | None:
        row = self.fetch_one(SELECT + "WHERE id = %s", (webhook_id,))
        return None if row is None else row_of(WebhookRow, row)

    def in_namespace(self, namespace_id: int) -> list[WebhookRow]:
        """Every webhook of exactly this namespace, by id (not paged, as in Djinn)."""
        rows = self.fetch_all(SELECT + "WHERE namespace_id = %s ORDER BY id", (namespace_id,))
        return [row_of(WebhookRow, row) for row in rows]
