"""The dispatcher: follows the event log and turns each event a webhook subscribes to
into outbox rows, one per matching webhook, in the transaction that records its tracking.

It runs under a `projections.runner.Runner` (one leader among all processes, an
eventsourcing subscription, its own tracking table) but it is not a read model: it is not
in the registry, so no rebuild ever replays it, and no writer waits for it.

Which webhooks an event goes to is decided by the dispatcher's own copy of the webhooks,
kept from the Webhook events in the same transactions, so an event goes to the webhooks
that existed at that point of the log: active ones of exactly the event's namespace that
subscribe to its name (Djinn's rule: parents and children never see it). Events about
things outside any namespace are never delivered (Djinn's rule too).

Payloads are rendered when the outbox row is written, from the read models once they
have reached the event (a dispatcher that lags renders the state they have by then). A
deleted thing is gone from its read model, so the dispatcher keeps the last rendering of
every namespaced resource (`Subject.body`) and sends that as the `deleted` payload.
Deleting a namespace deletes its webhooks with their pending deliveries, so its own
`namespaces`/`deleted` event reaches no one; in Djinn it reaches no one either.

It writes through a `DispatchView` (dispatch_view.py): PostgreSQL, or memory in tests.

Longer than 300 lines on purpose: one handler per followed event, beside the one path
(`_deliver`) they all write through; which events map to which webhook events is in
`events`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.builds import Build
from domain.invites import Invite
from domain.namespaces import Namespace
from domain.webhooks import Webhook
from infrastructure.webhooks.dispatch_view import DispatchView, Outbox, Step, Subject
from infrastructure.webhooks.events import (
    BUILD_EVENTS,
    FOLLOWED,
    KINDS,
    NAMESPACE_UPDATES,
    RESOURCE_EVENTS,
    Json,
    Payloads,
    encode,
    hook_fields,
)
from projections.read_models import ReadModels

# What a build's pin events leave its `pinned` field at.
PIN_STATES: dict[type[Any], bool] = {Build.Pinned: True, Build.Unpinned: False}


class StoppingError(Exception):
    """Raised while waiting on a read model when the dispatcher stops; nothing of the
    event was written, so the next leader processes it."""


class ReadModelLagError(Exception):
    """Raised when a read model did not reach an event in time; the runner retries."""


class WebhookDispatch(Projection[DispatchView]):
    """Event log → outbox; each handler writes its changes and tracking in one transaction."""

    name = "webhook_dispatch"
    topics = tuple(get_topic(c) for c in FOLLOWED)

    def __init__(
        self,
        view: DispatchView,
        app: Application[UUID],
        read_models: ReadModels,
        payloads: Payloads,
        *,
        read_wait_timeout: float,
        stopping: threading.Event,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(view)
        self.app = app
        self.read_models = read_models
        self.payloads = payloads
        self.read_wait_timeout = read_wait_timeout
        self.stopping = stopping
        self.on_enqueued = on_enqueued

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        resource = RESOURCE_EVENTS.get(type(domain_event))
        if resource is not None:
            self._resource(domain_event, tracking, *resource)
        elif type(domain_event) in BUILD_EVENTS:
            self._build_event(domain_event, tracking, BUILD_EVENTS[type(domain_event)])
        else:
            self.view.insert_tracking(tracking)

    # Webhooks and namespaces: the dispatcher's copy of who listens where.

    @process_event.register
    def webhook_created(self, event: Webhook.Created, tracking: Tracking) -> None:
        fields = hook_fields(event)
        self.view.commit(
            tracking,
            lambda o: o.put_hook(event.originator_id, event.public_id, event.namespace_id, fields),
        )

    @process_event.register
    def webhook_updated(self, event: Webhook.Updated, tracking: Tracking) -> None:
        known = self.view.hook(event.originator_id)
        if known is None:  # deleted with its namespace just before
            self.view.insert_tracking(tracking)
            return
        hook_id, namespace_id = known
        fields = hook_fields(event)
        self.view.commit(
            tracking, lambda o: o.put_hook(event.originator_id, hook_id, namespace_id, fields)
        )

    @process_event.register
    def webhook_deleted(self, event: Webhook.Deleted, tracking: Tracking) -> None:
        self.view.commit(tracking, lambda o: o.drop_hook(event.public_id))

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        self.view.commit(tracking, lambda o: o.forget_namespace(event.public_id))

    # Builds.

    @process_event.register
    def build_submitted(self, event: Build.Submitted, tracking: Tracking) -> None:
        subject = Subject("build", event.public_id, event.namespace_id, None)
        self._deliver(
            tracking,
            "build.submitted",
            event.namespace_id,
            lambda: self._rendered("builds", tracking, self.payloads.build, event.public_id),
            # A build without a namespace has no webhooks to tell: nothing to remember.
            (lambda o: o.put_subject(event.originator_id, subject))
            if event.namespace_id is not None
            else (lambda o: None),
        )

    @process_event.register
    def build_tagged(self, event: Build.Tagged, tracking: Tracking) -> None:
        subject = self.view.subject(event.originator_id)
        if subject is None or not event.tags:
            self.view.insert_tracking(tracking)
            return
        user_id, names = int(event.tags[0]["user_id"]), [str(t["name"]) for t in event.tags]
        self._deliver(
            tracking,
            "build.tagged",
            subject.namespace_id,
            lambda: self._rendered(
                "builds", tracking, self.payloads.tagged, subject.public_id, user_id, names
            ),
        )

    def _build_event(self, event: DomainEventProtocol[Any], tracking: Tracking, name: str) -> None:
        subject = self.view.subject(event.originator_id)
        if subject is None:
            self.view.insert_tracking(tracking)
            return

        def render() -> Json | None:
            body = self._rendered("builds", tracking, self.payloads.build, subject.public_id)
            pinned = PIN_STATES.get(type(event))
            if isinstance(body, dict) and pinned is not None:
                # The read model may already hold a later pin or unpin of the same build
                # (it applies events in batches): the payload tells this event's state.
                body = {**body, "pinned": pinned}
            return body

        self._deliver(tracking, name, subject.namespace_id, render)

    # Invites: told to the invite's namespace; an acceptance to the root the invitee joined.

    @process_event.register
    def invite_sent(self, event: Invite.Sent, tracking: Tracking) -> None:
        people = {"root_id": event.root_id, "invitee_id": event.invitee_id}
        subject = Subject("invite", event.public_id, event.namespace_id, people)
        self._deliver(
            tracking,
            "invite.sent",
            event.namespace_id,
            lambda: self._invite(tracking, event.namespace_id, event.invitee_id, event.inviter_id),
            lambda o: o.put_subject(event.originator_id, subject),
        )

    @process_event.register
    def invite_accepted(self, event: Invite.Accepted, tracking: Tracking) -> None:
        self._invite_ended(event.originator_id, tracking, "invite.accepted", to_root=True)

    @process_event.register
    def invite_rejected(self, event: Invite.Rejected, tracking: Tracking) -> None:
        self._invite_ended(event.originator_id, tracking, "invite.rejected", to_root=False)

    def _invite_ended(self, invite: UUID, tracking: Tracking, name: str, *, to_root: bool) -> None:
        subject = self.view.subject(invite)
        if subject is None or subject.namespace_id is None or subject.body is None:
            self.view.insert_tracking(tracking)  # its namespace has been deleted
            return
        namespace_id = int(subject.body["root_id"]) if to_root else subject.namespace_id
        invitee_id = int(subject.body["invitee_id"])
        self._deliver(
            tracking,
            name,
            namespace_id,
            lambda: self._invite(tracking, namespace_id, invitee_id, None),
            lambda o: o.forget_subject(invite),
        )

    def _invite(
        self, tracking: Tracking, namespace_id: int, invitee_id: int, inviter_id: int | None
    ) -> Json:
        self._wait("namespaces", tracking)
        self._wait("users", tracking)
        return self.payloads.invite(namespace_id, invitee_id, inviter_id)

    # Namespaced resources: created, updated, downloaded, deleted.

    def _resource(self, event: Any, tracking: Tracking, kind: str, action: str | None) -> None:
        known = self.view.subject(event.originator_id)
        if action != "deleted" and hasattr(event, "public_id"):
            public_id = int(event.public_id)
        elif known is not None:
            public_id = known.public_id
        else:  # a resource this dispatcher never saw created: nothing to say about it
            self.view.insert_tracking(tracking)
            return
        namespace_id: int | None
        if kind == "namespace":
            namespace_id = public_id
        elif hasattr(event, "namespace_id"):
            namespace_id = event.namespace_id
        else:
            namespace_id = known.namespace_id if known is not None else None
        event_name, key, read_model = KINDS[kind]
        if action == "deleted":
            body = None if known is None else known.body
            self._deliver(
                tracking,
                event_name,
                namespace_id,
                lambda: {"action": "deleted", key: body},
                lambda o: o.forget_subject(event.originator_id),
            )
            return
        if self._continued_in_same_save(event, tracking):
            self.view.insert_tracking(tracking)  # the save's last change tells it, once
            return
        rendering = None
        if namespace_id is not None:  # kept for the `deleted` payload, hooks or not
            fallback = {"id": public_id, "namespace_id": namespace_id}  # deleted meanwhile
            rendering = (
                self._rendered(read_model, tracking, self.payloads.resource, kind, public_id)
                or fallback
            )
        subject = Subject(kind, public_id, namespace_id, rendering)
        self._deliver(
            tracking,
            event_name if action is not None else None,
            namespace_id,
            lambda: {"action": action, key: rendering},
            lambda o: o.put_subject(event.originator_id, subject),
        )

    def _continued_in_same_save(self, event: Any, tracking: Tracking) -> bool:
        """Whether the next event is another change of the same namespace by the same
        request: one PATCH records description and visibility as two events, and is told
        once, by the last."""
        if not isinstance(event, NAMESPACE_UPDATES) or event.origin.request_id is None:
            return False
        # The aggregate's next event, read by version: events of one save commit together,
        # but their notification ids need not be adjacent, nor under the followers' horizon.
        following = self.app.recorder.select_events(
            event.originator_id, gt=event.originator_version, limit=1
        )
        if not following or following[0].originator_version != event.originator_version + 1:
            return False
        next_event = self.app.mapper.to_domain_event(following[0])
        return isinstance(next_event, NAMESPACE_UPDATES) and next_event.origin == event.origin

    # The common path.

    def _deliver(
        self,
        tracking: Tracking,
        event_name: str | None,
        namespace_id: int | None,
        render: Callable[[], Json | None],
        change: Step = lambda o: None,
    ) -> None:
        """Write `change` and, to each subscribed webhook, a delivery of `render()`, with
        the tracking record, in one transaction."""
        hooks: list[int] = []
        if event_name is not None and namespace_id is not None:
            hooks = self.view.subscribers(namespace_id, event_name)
        payload = render() if hooks else None
        body = None if payload is None else encode(payload)

        def write(outbox: Outbox) -> None:
            change(outbox)
            if body is not None and event_name is not None:
                outbox.enqueue(hooks, event_name, tracking.notification_id, body)

        self.view.commit(tracking, write)
        if body is not None:
            self.on_enqueued()

    def _rendered(
        self, read_model: str, tracking: Tracking, render: Callable[..., Json | None], *args: Any
    ) -> Json | None:
        self._wait(read_model, tracking)
        return render(*args)

    def _wait(self, read_model: str, tracking: Tracking) -> None:
        """Block until a read model has processed every event up to this one."""
        deadline = time.monotonic() + self.read_wait_timeout
        while not self.read_models.wait_until(read_model, tracking.notification_id, 0.2):
            if self.stopping.is_set():
                raise StoppingError()
            if time.monotonic() > deadline:
                raise ReadModelLagError(f"{read_model} did not reach {tracking.notification_id}")
