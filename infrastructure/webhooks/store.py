"""The dispatcher's own tables: its copy of the webhooks, what it knows of the things
events are about, the outbox of deliveries and every delivery attempt.

Not a read model: a rebuild must never send anything again, so these tables are never
rebuilt and are not in the projection registry. The dispatcher writes them together with
its tracking record (one transaction per event), like a projection, which is what makes
a restart lose no delivery; the senders then work the outbox. The dispatcher's steps are
in sql_outbox.py (their in-memory twin in memory.py); the senders' statements (claim,
record, retry) are here, beside the tables they act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL

from infrastructure.webhooks.dispatch_view import DispatchView, Step, Subject
from infrastructure.webhooks.sql_outbox import SqlOutbox
from projections.base import View


@dataclass(frozen=True)
class Claimed:
    """A delivery a sender holds (until `lease` expires), with where it goes."""

    id: int
    webhook_id: int
    event: str
    body: str
    attempt: int
    lease: str
    payload_url: str
    ssl: bool
    secret: str | None  # sealed


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST."""

    code: int | None
    duration: int  # nanoseconds
    error: str | None
    response_body: str


class WebhookStore(DispatchView, View):
    """The dispatcher's tables in PostgreSQL: its view (steps in `SqlOutbox`) and the
    senders' outbox statements."""

    projection_name = "webhook_dispatch"
    # One transaction per event: the senders are woken to deliver what an event queued,
    # and the next event's handler reads what the previous one wrote.
    batchable = False
    tables = {
        "webhook_hooks": "(id bigint PRIMARY KEY, aggregate_id uuid NOT NULL UNIQUE, "
        "namespace_id bigint NOT NULL, "
        "payload_url text NOT NULL, ssl boolean NOT NULL, active boolean NOT NULL, "
        "events text[] NOT NULL, secret text)",
        "webhook_subjects": "(aggregate_id uuid PRIMARY KEY, kind text NOT NULL, "
        "public_id bigint NOT NULL, namespace_id bigint, body jsonb)",
        "webhook_deliveries": "(id bigserial PRIMARY KEY, webhook_id bigint NOT NULL, "
        "event text NOT NULL, notification_id bigint NOT NULL, body text NOT NULL, "
        "status text NOT NULL, attempts integer NOT NULL DEFAULT 0, "
        "due_at timestamptz NOT NULL, lease text, created_at timestamptz NOT NULL, "
        "finished_at timestamptz, redelivery_of bigint)",
        "webhook_attempts": "(id bigserial PRIMARY KEY, delivery_id bigint NOT NULL, "
        "webhook_id bigint NOT NULL, code integer, duration bigint NOT NULL, error text, "
        "response_body text NOT NULL, created_at timestamptz NOT NULL)",
    }
    indexes = {
        "webhook_hooks_namespace_idx": ("webhook_hooks", "", "(namespace_id)"),
        "webhook_subjects_namespace_idx": ("webhook_subjects", "", "(namespace_id)"),
        "webhook_deliveries_due_idx": (
            "webhook_deliveries",
            "",
            "(due_at) WHERE status = 'pending'",
        ),
        "webhook_deliveries_hook_idx": ("webhook_deliveries", "", "(webhook_id)"),
        "webhook_attempts_hook_idx": ("webhook_attempts", "", "(webhook_id, id)"),
        "webhook_attempts_delivery_idx": ("webhook_attempts", "", "(delivery_id, id)"),
    }
    # Tables of an older marid: redeliveries came with `redelivery_of`, and the dispatcher
    # writes an event to a webhook once, but a redelivery repeats it (`history.py`).
    UPGRADES = (
        "ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS redelivery_of bigint",
        "DROP INDEX IF EXISTS webhook_deliveries_once_idx",
        "CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_first_idx ON webhook_deliveries "
        "(notification_id, webhook_id, event) WHERE redelivery_of IS NULL",
    )

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore)
        self.sql_create_statements += [SQL(s).format() for s in self.UPGRADES]

    # Reads.

    def _one(self, sql: str, params: Any) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql, params)
            row = curs.fetchone()
        return None if row is None else dict(row)

    def subject(self, aggregate_id: UUID) -> Subject | None:
        row = self._one(
            "SELECT kind, public_id, namespace_id, body FROM webhook_subjects "
            "WHERE aggregate_id = %s",
            (aggregate_id,),
        )
        if row is None:
            return None
        return Subject(row["kind"], int(row["public_id"]), row["namespace_id"], row["body"])

    def hook(self, aggregate_id: UUID) -> tuple[int, int] | None:
        """(public id, namespace id) of a webhook, by its aggregate id."""
        row = self._one(
            "SELECT id, namespace_id FROM webhook_hooks WHERE aggregate_id = %s", (aggregate_id,)
        )
        return None if row is None else (int(row["id"]), int(row["namespace_id"]))

    def subscribers(self, namespace_id: int, event: str) -> list[int]:
        """The active webhooks of exactly this namespace that subscribe to `event`."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT id FROM webhook_hooks WHERE namespace_id = %s AND active "
                "AND %s = ANY(events) ORDER BY id",
                (namespace_id, event),
            )
            return [int(row["id"]) for row in curs.fetchall()]

    def last_response(self, webhook_id: int) -> dict[str, Any] | None:
        """The latest attempt to deliver to a webhook, in the API's `last_response` shape."""
        row = self._one(
            "SELECT code, duration, error, created_at FROM webhook_attempts "
            "WHERE webhook_id = %s ORDER BY id DESC LIMIT 1",
            (webhook_id,),
        )
        if row is None:
            return None
        return {
            "code": row["code"],
            "duration": int(row["duration"]),
            "error": row["error"],
            "created_at": row["created_at"],
        }

    def seconds_until_due(self) -> float | None:
        """How long until the next pending delivery is due (0 if one is), None if none."""
        row = self._one(
            "SELECT extract(epoch FROM min(due_at) - now()) AS wait "
            "FROM webhook_deliveries WHERE status = 'pending'",
            None,
        )
        if row is None or row["wait"] is None:
            return None
        return max(float(row["wait"]), 0.0)

    # The dispatcher's writes.

    def commit(self, tracking: Tracking, step: Step) -> None:
        self.write(tracking, lambda curs: step(SqlOutbox(curs)))

    # The senders' statements.

    def claim(self, lease: str, hold: float, max_attempts: int) -> Claimed | None:
        """Take the next due delivery for `hold` seconds (SKIP LOCKED: senders of every
        process share the outbox), counting the attempt now so that a sender dying
        mid-POST still uses one up."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "UPDATE webhook_deliveries SET status = 'failed', finished_at = now() "
                "WHERE status = 'pending' AND due_at <= now() AND attempts >= %s",
                (max_attempts,),
            )
            curs.execute(
                "WITH next AS (SELECT id FROM webhook_deliveries WHERE status = 'pending' "
                "AND due_at <= now() ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease = %s, "
                "due_at = now() + make_interval(secs => %s) FROM next WHERE d.id = next.id "
                "RETURNING d.id, d.webhook_id, d.event, d.body, d.attempts",
                (lease, hold),
            )
            row = curs.fetchone()
            if row is None:
                return None
            curs.execute(
                "SELECT payload_url, ssl, secret FROM webhook_hooks WHERE id = %s",
                (row["webhook_id"],),
            )
            hook = curs.fetchone()
            if hook is None:  # cannot happen: a webhook's deliveries go with it
                curs.execute("DELETE FROM webhook_deliveries WHERE id = %s", (row["id"],))
                return None
        return Claimed(
            id=int(row["id"]),
            webhook_id=int(row["webhook_id"]),
            event=row["event"],
            body=row["body"],
            attempt=int(row["attempts"]),
            lease=lease,
            payload_url=hook["payload_url"],
            ssl=bool(hook["ssl"]),
            secret=hook["secret"],
        )

    def record(self, claimed: Claimed, attempt: Attempt, status: str, retry_in: float) -> bool:
        """Record an attempt and the delivery's new status (`pending` again in `retry_in`
        seconds, `delivered` or `failed`); False, recording nothing, when the delivery is
        no longer this sender's (its webhook was deleted or deactivated meanwhile)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "UPDATE webhook_deliveries SET status = %(status)s, lease = NULL, "
                "due_at = now() + make_interval(secs => %(retry_in)s), "
                "finished_at = CASE WHEN %(status)s = 'pending' THEN NULL ELSE now() END "
                "WHERE id = %(id)s AND lease = %(lease)s AND status = 'pending' RETURNING id",
                {"status": status, "retry_in": retry_in, "id": claimed.id, "lease": claimed.lease},
            )
            if curs.fetchone() is None:
                return False
            curs.execute(
                "INSERT INTO webhook_attempts (delivery_id, webhook_id, code, duration, error, "
                "response_body, created_at) VALUES (%s, %s, %s, %s, %s, %s, clock_timestamp())",
                (
                    claimed.id,
                    claimed.webhook_id,
                    attempt.code,
                    attempt.duration,
                    attempt.error,
                    attempt.response_body,
                ),
            )
        return True

    def deliveries(self, webhook_id: int | None = None) -> list[dict[str, Any]]:
        """Deliveries, oldest first (for operators and tests)."""
        where, params = ("WHERE webhook_id = %s", (webhook_id,)) if webhook_id else ("", ())
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT * FROM webhook_deliveries {where} ORDER BY id", params)
            return [dict(row) for row in curs.fetchall()]

    def attempts(self, delivery_id: int) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT * FROM webhook_attempts WHERE delivery_id = %s ORDER BY id",
                (delivery_id,),
            )
            return [dict(row) for row in curs.fetchall()]
