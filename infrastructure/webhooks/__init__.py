"""Webhook delivery: a dispatcher follows the event log into an outbox, senders POST it.

`WebhookDispatcher` is what `Marid` holds. The payload renderer comes from the API layer
(`api.webhook_payloads`, installed by `create_app` or `marid webhooks run`), so the
dispatcher starts once both `start()` was called and a renderer is installed, in either
order; a process without the API (`marid scheduler`, `marid projections run`) sends none.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresDatastore

from application.ports import SecretBox
from infrastructure.settings import Settings
from infrastructure.webhooks.dispatch import WebhookDispatch
from infrastructure.webhooks.events import Payloads
from infrastructure.webhooks.history import DeliveryHistory
from infrastructure.webhooks.store import WebhookStore
from projections.maintenance import Status, follower_status
from projections.read_models import ReadModels
from projections.rows import Page
from projections.runner import Leadership, Runner

if TYPE_CHECKING:  # imported where used: httpx is slow to import, and reading the
    # dispatcher's position (`dispatcher_status`) sends nothing
    from infrastructure.webhooks.sender import Transport

__all__ = ["Payloads", "WebhookDispatcher", "dispatcher_status"]


def dispatcher_status(
    app: Application[UUID], datastore: PostgresDatastore, head: int | None = None
) -> Status:
    """How far the dispatcher (of any process) has followed the event log."""
    return follower_status(
        app, WebhookDispatch.name, WebhookStore(datastore), WebhookDispatch.topics, head=head
    )


class WebhookDispatcher:
    """The webhook machinery of one process: the dispatcher (one leader among all
    processes) and the sender threads (in every process that runs it)."""

    def __init__(
        self,
        app: Application[UUID],
        secrets: SecretBox,
        datastore: PostgresDatastore,
        conninfo: str,
        read_models: ReadModels,
        settings: Settings,
        *,
        transport: Transport | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        """`leadership`: the process's shared connection for leader locks (else the
        dispatcher's runner holds its lock on a connection of its own)."""
        self.app = app
        self.conninfo = conninfo
        self.leadership = leadership
        self.read_models = read_models
        self.settings = settings
        self.store = WebhookStore(datastore)  # its tables are made by `Marid.migrate`
        from infrastructure.webhooks.sender import Policy, Sender

        self.history = DeliveryHistory(datastore)

        policy = Policy(
            max_attempts=settings.webhook_max_attempts,
            backoff=settings.webhook_backoff,
            timeout=settings.webhook_timeout,
        )
        self.sender = Sender(
            self.store,
            secrets,
            policy,
            allow_private=settings.allow_private_urls,
            transport=transport,
            prune=self.history.prune,
        )
        self.payloads: Payloads | None = None
        self.runner: Runner | None = None
        self._wanted = False
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def install(self, payloads: Payloads) -> None:
        """Give the dispatcher its payload renderer (starting it if `start()` came first)."""
        with self._lock:
            self.payloads = payloads
        self._start_if_ready()

    def start(self) -> None:
        """Run the dispatcher and the senders (once a renderer is installed)."""
        with self._lock:
            self._wanted = True
        self._start_if_ready()

    def _start_if_ready(self) -> None:
        with self._lock:
            if not self._wanted or self.payloads is None or self.runner is not None:
                return
            dispatch = WebhookDispatch(
                self.store,
                self.app,
                self.read_models,
                self.payloads,
                read_wait_timeout=self.settings.read_wait_timeout,
                stopping=self._stopping,
                on_enqueued=self.sender.wake,
            )
            self.runner = Runner(
                self.app,
                dispatch,  # type: ignore[arg-type]  # Projection is invariant in its view
                self.conninfo,
                leadership=self.leadership,
            )  # Projection is invariant in its view
            self.runner.start()
            self.sender.start()

    def signal_stop(self) -> None:
        """Ask everything to stop, without waiting (see `join`)."""
        self._stopping.set()
        if self.runner is not None:
            self.runner.signal_stop()
        self.sender.signal_stop()

    def join(self) -> None:
        if self.runner is not None:
            self.runner.join()
        self.sender.join()

    def stop(self) -> None:
        self.signal_stop()
        self.join()

    def status(self) -> Status:
        """How far the dispatcher has followed the event log (`marid projections status`)."""
        return dispatcher_status(self.app, self.store.datastore)

    def last_response(self, webhook_id: int) -> dict[str, Any] | None:
        """`{"code", "duration" (ns), "error", "created_at"}` of the latest attempt, or None."""
        return self.store.last_response(webhook_id)

    def deliveries(
        self, webhook_id: int, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], Page]:
        """A page of the webhook's deliveries, newest first (see `history.py`)."""
        return self.history.page(webhook_id, page, per_page)

    def delivery(self, webhook_id: int, delivery_id: int) -> dict[str, Any] | None:
        return self.history.one(webhook_id, delivery_id)

    def redeliver(self, webhook_id: int, delivery_id: int) -> int:
        """Queue a delivery again and tell this process's senders; the new delivery's id."""
        new_id = self.history.redeliver(webhook_id, delivery_id)
        self.sender.wake()
        return new_id
