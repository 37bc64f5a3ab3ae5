"""A webhook's deliveries as its owners see them: the list (newest first, each with its
latest attempt), redelivery, and the pruning of old ones.

A redelivery is a new delivery of the same event with the same body (its signature is
computed again, with the webhook's current secret, when it is sent), queued in the same
outbox and sent by the same senders, with its own attempts. `redelivery_of` names the
delivery it repeats; the original keeps its own status and history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from domain.errors import NotFoundError, RuleError
from projections.rows import Page, Queries

KEPT_FOR = timedelta(days=30)  # Djinn's intent: deliveries older than this are pruned
NOT_ACTIVE = "Webhook is not active"

LIST = (
    "SELECT d.id, d.webhook_id, d.event, d.status, d.attempts, d.created_at, d.finished_at, "
    "d.redelivery_of, a.code, a.duration, a.error, a.created_at AS responded_at "
    "FROM webhook_deliveries d LEFT JOIN LATERAL (SELECT code, duration, error, created_at "
    "FROM webhook_attempts WHERE delivery_id = d.id ORDER BY id DESC LIMIT 1) a ON true"
)


class DeliveryHistory(Queries):
    """The deliveries of one webhook, in the dispatcher's tables (`WebhookStore`)."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore)

    def page(  # type: ignore[override]  # a webhook's page, not Queries' generic one
        self, webhook_id: int, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], Page]:
        """A page of the webhook's deliveries, newest first, each with its latest attempt
        (`code`, `duration`, `error`, `responded_at`: all None before the first)."""
        return super().page(
            LIST,
            "webhook_deliveries d",
            "d.webhook_id = %(webhook_id)s",
            "d.id DESC",
            {"webhook_id": webhook_id},
            page,
            per_page,
        )

    def one(self, webhook_id: int, delivery_id: int) -> dict[str, Any] | None:
        return self.fetch_one(
            f"{LIST} WHERE d.id = %s AND d.webhook_id = %s", (delivery_id, webhook_id)
        )

    def redeliver(self, webhook_id: int, delivery_id: int) -> int:
        """Queue the delivery again, due now; the new delivery's id. NotFoundError when the
        webhook has no such delivery, RuleError when the webhook is not active (the
        dispatcher's copy of it, which is what the senders go by)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "SELECT h.active FROM webhook_deliveries d JOIN webhook_hooks h "
                "ON h.id = d.webhook_id WHERE d.id = %s AND d.webhook_id = %s FOR SHARE OF h",
                (delivery_id, webhook_id),
            )
            found = curs.fetchone()
            if found is None:
                raise NotFoundError("delivery")
            if not found["active"]:
                raise RuleError(NOT_ACTIVE)
            curs.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event, notification_id, body, "
                "status, due_at, created_at, redelivery_of) SELECT webhook_id, event, "
                "notification_id, body, 'pending', now(), clock_timestamp(), id "
                "FROM webhook_deliveries WHERE id = %s RETURNING id",
                (delivery_id,),
            )
            row = curs.fetchone()
            assert row is not None  # the row was just read in this transaction
            return int(row["id"])

    def prune(self, kept_for: timedelta = KEPT_FOR) -> int:
        """Delete finished deliveries created more than `kept_for` ago, with their
        attempts; how many. Pending ones stay until they end, however old."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "WITH gone AS (DELETE FROM webhook_deliveries WHERE status <> 'pending' "
                "AND created_at < now() - %s RETURNING id), "
                "attempts AS (DELETE FROM webhook_attempts WHERE delivery_id IN "
                "(SELECT id FROM gone)) SELECT count(*) AS count FROM gone",
                (kept_for,),
            )
            row = curs.fetchone()
        return 0 if row is None else int(row["count"])
