"""Events are a storage format: the resource aggregates' events keep their topics and shape.

`fixtures/resource_events.json` holds the stored events (topic and state, as the mapper
writes them) of the commands in `act()`, and each aggregate's state after replaying them,
captured from the code before the namespaced resources shared a base class (commit 2047c7c);
those of `act_on_people()` from the code before namespaces, invites, tokens and users
shared base classes (commit ed43f9e).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from application.app import MaridApplication
from domain.builds import BuildCounter
from domain.crons import Cron
from domain.images import Image
from domain.invites import Invite
from domain.keys import SshKey
from domain.namespaces import Namespace
from domain.objects import Object
from domain.origin import Origin
from domain.tokens import Token
from domain.users import User
from domain.variables import Variable
from domain.webhooks import Webhook
from tests.unit.conftest import POPO

FIXTURE = Path(__file__).parent / "fixtures" / "resource_events.json"
ORIGIN = Origin.user(1, "req-1")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

TOPICS = {
    Variable: [
        "domain.variables:Variable.Created",
        "domain.variables:Variable.Deleted",
    ],
    SshKey: [
        "domain.keys:SshKey.Created",
        "domain.keys:SshKey.Deleted",
        "domain.keys:SshKey.Updated",
    ],
    Object: [
        "domain.objects:Object.Created",
        "domain.objects:Object.Deleted",
    ],
    Image: [
        "domain.images:Image.Created",
        "domain.images:Image.Deleted",
        "domain.images:Image.DownloadClaimed",
        "domain.images:Image.DownloadFailed",
        "domain.images:Image.DownloadFinished",
        "domain.images:Image.DownloadProgressed",
    ],
    Cron: [
        "domain.crons:Cron.Created",
        "domain.crons:Cron.Deleted",
        "domain.crons:Cron.Fired",
        "domain.crons:Cron.FiringFailed",
        "domain.crons:Cron.Updated",
    ],
    Webhook: [
        "domain.webhooks:Webhook.Created",
        "domain.webhooks:Webhook.Deleted",
        "domain.webhooks:Webhook.Updated",
    ],
    Namespace: [
        "domain.namespaces:Namespace.ChildAdded",
        "domain.namespaces:Namespace.ChildRemoved",
        "domain.namespaces:Namespace.CollaboratorAdded",
        "domain.namespaces:Namespace.CollaboratorRemoved",
        "domain.namespaces:Namespace.Created",
        "domain.namespaces:Namespace.Deleted",
        "domain.namespaces:Namespace.DescriptionChanged",
        "domain.namespaces:Namespace.VisibilityChanged",
    ],
    Invite: [
        "domain.invites:Invite.Accepted",
        "domain.invites:Invite.Created",
        "domain.invites:Invite.Rejected",
        "domain.invites:Invite.Sent",
    ],
    Token: [
        "domain.tokens:Token.Created",
        "domain.tokens:Token.Regenerated",
        "domain.tokens:Token.Revoked",
        "domain.tokens:Token.Updated",
    ],
    User: [
        "domain.users:User.Created",
        "domain.users:User.Disabled",
        "domain.users:User.Enabled",
        "domain.users:User.PasswordSet",
        "domain.users:User.Registered",
    ],
}
# Attributes added to a recorded event class since the fixture, with the default that
# events stored before read as (appended after the recorded ones, never in between).
ADDED = {"domain.tokens:Token.Created": {"app_id": None}}
# What those defaults add to a replayed aggregate's state.
ADDED_STATE = {
    "domain.tokens:Token.Created": {"app_id": None},
    "domain.users:User.Registered": {"disabled": False, "password_hash": None},
}


def act() -> list[Aggregate]:
    """The commands whose events the fixture recorded, in its order."""
    variable = Variable(
        public_id=7,
        owner_id=2,
        author_id=3,
        namespace_id=4,
        key="A",
        value="v",
        masked=False,
        origin=ORIGIN,
    )
    variable.delete(ORIGIN)
    key = SshKey(
        public_id=7,
        owner_id=2,
        author_id=3,
        namespace_id=None,
        name="deploy",
        key="sealed",
        config="Host *",
        origin=ORIGIN,
    )
    key.update("Host x", ORIGIN)
    key.delete(ORIGIN)
    obj = Object(
        public_id=7,
        owner_id=2,
        author_id=3,
        namespace_id=4,
        name="f.txt",
        content_type="text/plain",
        size=3,
        md5="m",
        sha256="s",
        origin=ORIGIN,
    )
    obj.delete(ORIGIN)
    fetched, failed = (image(7, 4), image(8, None))
    fetched.claim_download("w1", T0, timedelta(minutes=1), ORIGIN)
    fetched.record_progress("w1", 10, T0 + timedelta(seconds=5), ORIGIN)
    fetched.finish_download("w1", "images/7", 20, "s", T0 + timedelta(seconds=9), ORIGIN)
    fetched.delete(ORIGIN)
    failed.claim_download("w1", T0, timedelta(minutes=1), ORIGIN)
    failed.fail_download("w1", "boom", T0 + timedelta(seconds=3), ORIGIN)
    cron = Cron(
        public_id=7,
        owner_id=2,
        author_id=3,
        namespace_id=4,
        name="nightly",
        schedule="daily",
        timezone="UTC",
        manifest="driver:\n  image: x\n",
        next_run=T0 + timedelta(hours=12),
        origin=ORIGIN,
    )
    cron.update(2, None, "nightly2", "0 * * * *", "Europe/Paris", "m2", T0, ORIGIN)
    cron.fire(cron.next_run, cron.next_run, 99, ORIGIN)
    cron.failed(cron.next_run, cron.next_run, "no", ORIGIN)
    cron.delete(ORIGIN)
    hook = Webhook(
        public_id=7,
        namespace_id=4,
        user_id=2,
        author_id=3,
        payload_url="https://h/hook",
        ssl=True,
        active=True,
        events=["cron"],
        secret="sealed",
        origin=ORIGIN,
    )
    hook.update("https://h/hook2", False, False, ["images", "cron"], None, ORIGIN)
    hook.delete(ORIGIN)
    counter = BuildCounter(owner_id=2, origin=ORIGIN)
    counter.next_number(ORIGIN)
    return [variable, key, obj, fetched, failed, cron, hook, counter, *act_on_people()]


def act_on_people() -> list[Aggregate]:
    """Namespaces, invites, tokens and users (recorded before they shared base classes)."""
    root = Namespace.create_root(7, 2, "proj", "d", "private", ORIGIN)
    root.add_collaborator(5, ORIGIN)
    root.update("d2", "public", ORIGIN)
    child = root.create_child(8, "sub", "c", ORIGIN)
    root.remove_collaborator(5, ORIGIN)
    root.forget_child(8, ORIGIN)
    child.delete(ORIGIN)
    child.delete(ORIGIN)
    root.delete(ORIGIN)
    accepted = Invite(
        public_id=7, namespace_id=8, root_id=7, invitee_id=5, inviter_id=2, origin=ORIGIN
    )
    accepted.accept(5, ORIGIN)
    rejected = Invite(
        public_id=8, namespace_id=7, root_id=7, invitee_id=6, inviter_id=2, origin=ORIGIN
    )
    rejected.reject(2, ORIGIN)
    token = Token(
        public_id=7,
        user_id=2,
        name="ci",
        token_hash="h",
        scopes="build:read",
        expires_at=T0,
        origin=ORIGIN,
    )
    token.revoke(ORIGIN)
    token.revoke(ORIGIN)
    user = User(public_id=2, username="ann", email="a@x", origin=ORIGIN, admin=True)
    plain = User(public_id=3, username="bob", email="b@x", origin=ORIGIN)
    return [root, child, accepted, rejected, token, user, plain]


def image(public_id: int, namespace_id: int | None) -> Image:
    return Image(
        public_id=public_id,
        owner_id=2,
        author_id=3,
        namespace_id=namespace_id,
        name="img" if public_id == 7 else "img2",
        driver="qemu",
        blob_key=None,
        size=None,
        sha256=None,
        download_source="https://h/x" if public_id == 7 else "https://h/y",
        download_url="sealed",
        origin=ORIGIN,
    )


@pytest.fixture(scope="module")
def recorded() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(FIXTURE.read_text())
    return data


@pytest.fixture(scope="module")
def app() -> MaridApplication:
    return MaridApplication(POPO)


def stored(aggregate_id: str, event: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(aggregate_id),
        originator_version=event["originator_version"],
        topic=event["topic"],
        state=event["state"].encode(),
    )


def without_timestamp(state: bytes | str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(state)
    decoded.pop("timestamp")
    return decoded


@pytest.mark.parametrize("aggregate_class", list(TOPICS))
def test_resource_event_topics_are_unchanged(aggregate_class: type[Aggregate]) -> None:
    events = [
        value
        for name, value in vars(aggregate_class).items()
        if isinstance(value, type) and issubclass(value, CanMutateAggregate) and name != "Event"
    ]

    topics = sorted(get_topic(event) for event in events)

    assert topics == TOPICS[aggregate_class]
    assert all(resolve_topic(get_topic(event)) is event for event in events)


def test_stored_events_keep_their_attributes(
    app: MaridApplication, recorded: list[dict[str, Any]]
) -> None:
    aggregates = act()

    for aggregate, before in zip(aggregates, recorded, strict=True):
        now = [app.mapper.to_stored_event(event) for event in aggregate.collect_events()]
        assert str(aggregate.id) == before["aggregate_id"]
        assert [event.topic for event in now] == [event["topic"] for event in before["events"]]
        for new, old in zip(now, before["events"], strict=True):
            # Same attribute names, in the same order, with the same encoded values; an
            # added attribute only after them.
            expected = {**without_timestamp(old["state"]), **ADDED.get(old["topic"], {})}
            assert list(without_timestamp(new.state).items()) == list(expected.items())


def test_event_classes_declare_the_recorded_attributes(recorded: list[dict[str, Any]]) -> None:
    internal = {"originator_id", "originator_version"}
    for before in recorded:
        for event in before["events"]:
            cls = resolve_topic(event["topic"])
            declared = [f.name for f in dataclasses.fields(cls) if f.name not in internal]
            added = list(ADDED.get(event["topic"], {}))
            assert declared == [*json.loads(event["state"]), *added], event["topic"]
            defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name in added}
            assert defaults == ADDED.get(event["topic"], {})  # old events read as these


def test_recorded_events_rebuild_the_recorded_state(
    app: MaridApplication, recorded: list[dict[str, Any]]
) -> None:
    for before in recorded:
        events = [
            app.mapper.to_domain_event(stored(before["aggregate_id"], event))
            for event in before["events"]
        ]

        rebuilt = project_aggregate(None, events)

        assert rebuilt is not None
        state = {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"}
        expected = json.loads(before["state"])
        for event in before["events"]:
            expected.update(ADDED_STATE.get(event["topic"], {}))
        assert json.loads(app.mapper.transcoder.encode(state)) == expected


def test_an_aggregate_rebuilt_from_its_stored_events_equals_the_original(
    app: MaridApplication,
) -> None:
    for aggregate in act():
        events = aggregate.collect_events()
        loaded = [app.mapper.to_domain_event(app.mapper.to_stored_event(e)) for e in events]

        rebuilt = project_aggregate(None, loaded)

        assert rebuilt == aggregate
