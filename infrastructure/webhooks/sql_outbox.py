"""The dispatcher's `Outbox` steps in PostgreSQL: each one or a few statements on the
cursor of its tracking transaction (the tables are declared by `WebhookStore`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from infrastructure.webhooks.dispatch_view import Outbox, Subject


class SqlOutbox(Outbox):
    def __init__(self, curs: Cursor[DictRow]) -> None:
        self.curs = curs

    def put_hook(
        self, aggregate_id: UUID, hook_id: int, namespace_id: int, fields: dict[str, Any]
    ) -> None:
        self.curs.execute(
            "INSERT INTO webhook_hooks (id, aggregate_id, namespace_id, payload_url, ssl, "
            "active, events, secret) VALUES (%(id)s, %(aggregate_id)s, %(ns)s, "
            "%(payload_url)s, %(ssl)s, %(active)s, %(events)s, %(secret)s) "
            "ON CONFLICT (id) DO UPDATE SET payload_url = excluded.payload_url, "
            "ssl = excluded.ssl, active = excluded.active, events = excluded.events, "
            "secret = excluded.secret",
            {"id": hook_id, "aggregate_id": aggregate_id, "ns": namespace_id, **fields},
        )
        if not fields["active"]:
            self.curs.execute(
                "DELETE FROM webhook_deliveries WHERE status = 'pending' AND webhook_id = %s",
                (hook_id,),
            )

    def drop_hook(self, hook_id: int) -> None:
        self._drop_hooks("id = %s", hook_id)

    def _drop_hooks(self, where: str, value: int) -> None:
        hooks = f"SELECT id FROM webhook_hooks WHERE {where}"
        # Deliveries first: that waits for a sender recording an attempt on one of them
        # (it holds the row), so the attempts statement after it sees that attempt too.
        self.curs.execute(f"DELETE FROM webhook_deliveries WHERE webhook_id IN ({hooks})", (value,))
        self.curs.execute(f"DELETE FROM webhook_attempts WHERE webhook_id IN ({hooks})", (value,))
        self.curs.execute(f"DELETE FROM webhook_hooks WHERE {where}", (value,))

    def enqueue(self, hook_ids: list[int], event: str, notification_id: int, body: str) -> None:
        for hook_id in hook_ids:
            self.curs.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event, notification_id, body, "
                "status, due_at, created_at) VALUES (%s, %s, %s, %s, 'pending', now(), now()) "
                "ON CONFLICT DO NOTHING",
                (hook_id, event, notification_id, body),
            )

    def put_subject(self, aggregate_id: UUID, subject: Subject) -> None:
        body = None if subject.body is None else Jsonb(subject.body)
        self.curs.execute(
            "INSERT INTO webhook_subjects (aggregate_id, kind, public_id, namespace_id, body) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (aggregate_id) DO UPDATE SET "
            "namespace_id = excluded.namespace_id, body = excluded.body",
            (aggregate_id, subject.kind, subject.public_id, subject.namespace_id, body),
        )

    def forget_subject(self, aggregate_id: UUID) -> None:
        self.curs.execute("DELETE FROM webhook_subjects WHERE aggregate_id = %s", (aggregate_id,))

    def forget_namespace(self, namespace_id: int) -> None:
        self._drop_hooks("namespace_id = %s", namespace_id)
        self.curs.execute(
            "DELETE FROM webhook_subjects WHERE namespace_id = %s "
            "AND kind IN ('namespace', 'invite')",
            (namespace_id,),
        )
        self.curs.execute(
            "UPDATE webhook_subjects SET namespace_id = NULL WHERE namespace_id = %s",
            (namespace_id,),
        )
