"""The webhook dispatcher on its in-memory view: real domain events in, outbox rows out
(which webhooks are told, of which event, with which payload), without a database."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking

from domain.builds import Build
from domain.invites import Invite
from domain.namespaces import Namespace
from domain.variables import Variable
from domain.webhooks import Webhook
from infrastructure.webhooks.dispatch import ReadModelLagError, WebhookDispatch
from infrastructure.webhooks.memory import MemoryDispatchView
from tests.unit.projection_support import APP, ORIGIN, feed, namespace, namespace_deleted

Json = dict[str, Any]


class FakePayloads:
    """Renders from a dict standing for the read models; a resource missing from it has
    been deleted there."""

    def __init__(self) -> None:
        self.resources: dict[tuple[str, int], Json] = {}

    def build(self, build_id: int) -> Json | None:
        return {"id": build_id}

    def tagged(self, build_id: int, user_id: int, names: list[str]) -> Json | None:
        return {"id": build_id, "user_id": user_id, "tags": names}

    def invite(self, namespace_id: int, invitee_id: int, inviter_id: int | None) -> Json:
        return {"namespace": namespace_id, "invitee": invitee_id, "inviter": inviter_id}

    def resource(self, kind: str, resource_id: int) -> Json | None:
        return self.resources.get((kind, resource_id))


class FakeReadModels:
    """Read models that have reached every event (or, `lagging`, none); records waits."""

    def __init__(self, *, lagging: bool = False) -> None:
        self.lagging = lagging
        self.waits: list[tuple[str, int]] = []

    def wait_until(self, name: str, notification_id: int, timeout: float) -> bool:
        self.waits.append((name, notification_id))
        return not self.lagging


class Dispatching:
    """A dispatcher on a fresh in-memory view, and what it was given."""

    def __init__(self, *, lagging: bool = False) -> None:
        self.view = MemoryDispatchView()
        self.payloads = FakePayloads()
        self.read_models = FakeReadModels(lagging=lagging)
        self.woken = 0
        self.dispatch = WebhookDispatch(
            self.view,
            Application(),
            self.read_models,  # type: ignore[arg-type]  # a fake of the one method it calls
            self.payloads,
            read_wait_timeout=0.0,
            stopping=threading.Event(),
            on_enqueued=self._wake,
        )
        self.last = 0

    def _wake(self) -> None:
        self.woken += 1

    def feed(self, *events: Any) -> None:
        self.last = feed(self.dispatch, events, first=self.last + 1)

    def told(self) -> list[tuple[int, str, Json]]:
        """(webhook, event name, payload) of each pending delivery, oldest first."""
        return [
            (d["webhook_id"], d["event"], json.loads(d["body"]))
            for d in self.view.deliveries()
            if d["status"] == "pending"
        ]


def webhook(public_id: int, namespace_id: int, *events: str, active: bool = True) -> Webhook:
    hook = Webhook(
        public_id=public_id,
        namespace_id=namespace_id,
        user_id=1,
        author_id=1,
        payload_url="https://example.com/hook",
        ssl=True,
        active=active,
        events=list(events),
        secret=None,
        origin=ORIGIN,
    )
    return hook


def hooked(*hooks: Webhook, lagging: bool = False) -> Dispatching:
    dispatching = Dispatching(lagging=lagging)
    dispatching.feed(*[e for hook in hooks for e in hook.collect_events()])
    return dispatching


def variable(public_id: int, namespace_id: int | None) -> Variable:
    return Variable(
        public_id=public_id,
        owner_id=1,
        author_id=1,
        namespace_id=namespace_id,
        key="KEY",
        value="value",
        masked=False,
        origin=ORIGIN,
    )


def build(public_id: int, namespace_id: int | None) -> Build:
    return Build(
        public_id=public_id,
        number=public_id,
        owner_id=1,
        namespace_id=namespace_id,
        submitter_id=1,
        manifest="driver: {type: os}",
        driver={"type": "os"},
        trigger={"type": "manual", "comment": "", "data": {}},
        stages=[],
        jobs=[],
        variables=[],
        keys=[],
        objects=[],
        tags=[],
        origin=ORIGIN,
    )


def test_event_goes_to_active_hooks_of_exactly_its_namespace_that_subscribe() -> None:
    dispatching = hooked(
        webhook(1, 3, "variables"),
        webhook(2, 3, "build.submitted"),
        webhook(3, 4, "variables"),  # a sibling namespace
        webhook(4, 3, "variables", active=False),
        webhook(5, 3, "cron", "variables"),
    )
    dispatching.payloads.resources[("variable", 7)] = {"id": 7, "key": "KEY"}

    dispatching.feed(*variable(7, 3).collect_events())

    told = {"action": "created", "variable": {"id": 7, "key": "KEY"}}
    assert dispatching.told() == [(1, "variables", told), (5, "variables", told)]
    assert dispatching.read_models.waits == [("variables", dispatching.last)]
    assert dispatching.woken == 1


def test_repeated_notification_is_delivered_once() -> None:
    dispatching = hooked(webhook(1, 3, "build.submitted"))
    [submitted] = build(9, 3).collect_events()
    tracking = Tracking(APP, dispatching.last + 1)

    dispatching.dispatch.process_event(submitted, tracking)
    dispatching.dispatch.process_event(submitted, tracking)

    assert dispatching.told() == [(1, "build.submitted", {"id": 9})]
    assert dispatching.view.max_tracking_id(APP) == tracking.notification_id


def test_deleted_resource_is_told_with_its_last_rendering() -> None:
    dispatching = hooked(webhook(1, 3, "variables"))
    kept = variable(7, 3)
    dispatching.payloads.resources[("variable", 7)] = {"id": 7, "key": "KEY"}
    dispatching.feed(*kept.collect_events())
    del dispatching.payloads.resources[("variable", 7)]  # gone from its read model
    kept.delete(ORIGIN)

    dispatching.feed(*kept.collect_events())

    assert dispatching.told()[-1] == (
        1,
        "variables",
        {"action": "deleted", "variable": {"id": 7, "key": "KEY"}},
    )
    assert dispatching.view.subject(kept.id) is None


def test_resource_outside_any_namespace_is_never_told() -> None:
    dispatching = hooked(webhook(1, 3, "variables", "build.submitted", "build.pinned"))
    detached, unnamespaced = variable(7, None), build(9, None)
    unnamespaced.pin(ORIGIN)

    dispatching.feed(*detached.collect_events(), *unnamespaced.collect_events())

    assert dispatching.told() == []
    assert dispatching.view.subject(unnamespaced.id) is None
    assert dispatching.view.max_tracking_id(APP) == dispatching.last


def test_build_events_are_told_to_its_namespace_under_djinn_names() -> None:
    dispatching = hooked(
        webhook(1, 3, "build.submitted", "build.tagged", "build.pinned", "build.finished")
    )
    queued = build(9, 3)
    queued.tag([(1, "nightly")], 2, ORIGIN)
    queued.pin(ORIGIN)
    queued.kill(ORIGIN)  # a queued build ends without running

    dispatching.feed(*queued.collect_events())

    assert dispatching.told() == [
        (1, "build.submitted", {"id": 9}),
        (1, "build.tagged", {"id": 9, "user_id": 2, "tags": ["nightly"]}),
        (1, "build.pinned", {"id": 9, "pinned": True}),  # the state its event left
        (1, "build.finished", {"id": 9}),
    ]


def test_updated_namespace_is_told_to_its_own_hooks() -> None:
    dispatching = hooked(webhook(1, 3, "namespaces"))
    root = Namespace.create_root(3, 1, "ns3", "", "private", ORIGIN)
    dispatching.payloads.resources[("namespace", 3)] = {"id": 3, "description": "new"}
    root.update("new", None, ORIGIN)

    dispatching.feed(*root.collect_events())

    rendering = {"id": 3, "description": "new"}
    assert dispatching.told() == [
        (1, "namespaces", {"action": "created", "namespace": rendering}),
        (1, "namespaces", {"action": "updated", "namespace": rendering}),
    ]


def test_invite_is_sent_to_its_namespace_and_accepted_to_the_root_joined() -> None:
    dispatching = hooked(
        webhook(1, 3, "invite.sent", "invite.accepted"), webhook(2, 1, "invite.accepted")
    )
    invite = Invite(
        public_id=5, namespace_id=3, root_id=1, invitee_id=6, inviter_id=7, origin=ORIGIN
    )
    invite.accept(6, ORIGIN)

    dispatching.feed(*invite.collect_events())

    assert dispatching.told() == [
        (1, "invite.sent", {"namespace": 3, "invitee": 6, "inviter": 7}),
        (2, "invite.accepted", {"namespace": 1, "invitee": 6, "inviter": None}),
    ]
    assert dispatching.view.subject(invite.id) is None


def test_deactivated_webhook_loses_its_pending_deliveries_and_hears_nothing() -> None:
    hook = webhook(1, 3, "build.submitted", "build.pinned")
    dispatching = hooked(hook, webhook(2, 3, "build.submitted"))
    later = build(9, 3)
    dispatching.feed(*later.collect_events())
    hook.update("https://example.com/hook", True, False, ["build.pinned"], None, ORIGIN)
    later.pin(ORIGIN)

    dispatching.feed(*hook.collect_events(), *later.collect_events())

    assert dispatching.told() == [(2, "build.submitted", {"id": 9})]
    assert dispatching.view.hook(hook.id) == (1, 3)


def test_deleted_webhook_goes_with_its_deliveries() -> None:
    hook = webhook(1, 3, "build.submitted")
    dispatching = hooked(hook, webhook(2, 3, "build.submitted"))
    dispatching.feed(*build(9, 3).collect_events())
    hook.delete(ORIGIN)

    dispatching.feed(*hook.collect_events(), *build(10, 3).collect_events())

    assert dispatching.told() == [
        (2, "build.submitted", {"id": 9}),
        (2, "build.submitted", {"id": 10}),
    ]
    assert dispatching.view.hook(hook.id) is None


def test_deleted_namespace_takes_its_hooks_and_invites_and_detaches_the_rest() -> None:
    dispatching = hooked(
        webhook(1, 3, "variables", "invite.accepted"), webhook(2, 1, "invite.accepted")
    )
    held = variable(7, 3)
    invite = Invite(
        public_id=5, namespace_id=3, root_id=1, invitee_id=6, inviter_id=7, origin=ORIGIN
    )
    dispatching.feed(*held.collect_events(), *invite.collect_events())
    held.delete(ORIGIN)
    invite.accept(6, ORIGIN)

    dispatching.feed(*namespace_deleted(3), *held.collect_events(), *invite.collect_events())

    assert dispatching.told() == []
    assert dispatching.view.subscribers(3, "variables") == []
    assert dispatching.view.subject(invite.id) is None
    assert dispatching.view.max_tracking_id(APP) == dispatching.last


def test_detached_resource_is_remembered_without_a_namespace() -> None:
    dispatching = hooked()
    held = variable(7, 3)
    dispatching.feed(*held.collect_events())

    dispatching.feed(*namespace_deleted(3))

    subject = dispatching.view.subject(held.id)
    assert subject is not None
    assert (subject.kind, subject.public_id, subject.namespace_id) == ("variable", 7, None)


def test_lagging_read_model_leaves_the_event_for_a_retry() -> None:
    dispatching = hooked(webhook(1, 3, "build.submitted"), lagging=True)
    [submitted] = build(9, 3).collect_events()

    with pytest.raises(ReadModelLagError):
        dispatching.dispatch.process_event(submitted, Tracking(APP, dispatching.last + 1))

    assert dispatching.told() == []
    assert dispatching.view.max_tracking_id(APP) == dispatching.last


def test_unfollowed_event_only_records_tracking() -> None:
    dispatching = hooked(webhook(1, 3, "namespaces"))
    root = namespace(3)
    root.create_child(4, "child", "", ORIGIN)

    dispatching.feed(*root.collect_events())

    assert dispatching.told() == []
    assert dispatching.view.max_tracking_id(APP) == dispatching.last
