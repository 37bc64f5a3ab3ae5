"""Each read model's PostgreSQL view against its in-memory twin: the same intent-method
calls, then the same rows in every table.

The projection unit tests run on the in-memory views; this proves that what they check is
what PostgreSQL holds. Each scenario also states what it expects, so that both views being
wrong alike fails too, and repeats a notification, which both must ignore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore

from infrastructure.settings import Settings
from projections.base import ReadModel, View
from projections.build_tables import STATUS_CHANNEL, BuildsTables, BuildsView
from projections.crons import CronsTables, CronsView
from projections.images import ImagesTables, ImagesView
from projections.invites import InvitesTables, InvitesView
from projections.keys import KeysTables, KeysView
from projections.memory import MemoryView, in_memory
from projections.namespaces import NamespacesTables, NamespacesView
from projections.objects import ObjectsTables, ObjectsView
from projections.resource_projection import ResourceTables
from projections.users import UsersTables, UsersView
from projections.variables import VariablesTables, VariablesView
from projections.webhooks import WebhooksTables, WebhooksView

APP = "Marid"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def uid(n: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"view-contract:{n}")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Track:
    """Notification ids in order; `again(n)` is notification n once more."""

    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> Tracking:
        self.last += 1
        return Tracking(APP, self.last)

    @staticmethod
    def again(notification_id: int) -> Tracking:
        return Tracking(APP, notification_id)


@dataclass(frozen=True)
class Scenario:
    tables: type[ReadModel]
    view: type[View]
    run: Callable[[Any, Track], None]
    check: Callable[[Any], None]
    channel: str | None = None  # where the views notify changes, in the same order


# --- namespaced resources --------------------------------------------------------------

OWN_COLUMNS: dict[type[ResourceTables], dict[str, Any]] = {
    VariablesTables: {"key": "K", "value": "sealed:v", "masked": True},
    KeysTables: {"name": "deploy", "key": "sealed:k", "config": "", "updated_at": T0},
    ObjectsTables: {"name": "o", "type": "text/plain", "size": 2, "md5": "m", "sha256": "s"},
    ImagesTables: {"name": "i", "driver": "qemu", "download_source": "https://example.com/i"},
    CronsTables: {"name": "c", "schedule": "daily", "timezone": "UTC", "manifest": "m"},
}


def resource_row(tables: type[ResourceTables], n: int, namespace_id: int | None) -> dict[str, Any]:
    own = OWN_COLUMNS[tables]
    if tables is CronsTables:
        own = {**own, "next_run": at(60 * 24)}
    common = {"id": n, "aggregate_id": uid(n), "user_id": 1, "author_id": 2}
    return {**common, "namespace_id": namespace_id, "created_at": at(n), **own}


def resource_scenario(tables: type[ResourceTables], view: type[View]) -> Scenario:
    def run(model: ResourceTables, track: Track) -> None:
        for n, namespace_id in ((1, 7), (2, 7), (3, 8), (4, None)):
            model.add(resource_row(tables, n, namespace_id), track())
        model.update(uid(2), {"created_at": at(30), "user_id": 5}, track())
        model.detach_namespace(7, track())
        model.remove(uid(3), track())
        model.add(resource_row(tables, 1, 7), track.again(1))  # ignored: already tracked
        model.remove(uid(4), track.again(2))

    def check(model: ResourceTables) -> None:
        rows = model.rows(tables.projection_name, order_by="id")
        assert [(r["id"], r["namespace_id"], r["user_id"]) for r in rows] == [
            (1, None, 1),
            (2, None, 5),
            (4, None, 1),
        ]
        assert rows[1]["created_at"] == at(30)
        assert model.max_tracking_id(APP) == 7

    return Scenario(tables, view, run, check)


def crons_scenario() -> Scenario:
    base = resource_scenario(CronsTables, CronsView)

    def run(model: CronsTables, track: Track) -> None:
        base.run(model, track)
        fired = {"prev_run": at(1), "next_run": at(2), "last_error": None, "last_error_at": None}
        model.fired(uid(1), fired, 41, at(1), track())
        model.fired(uid(1), fired, 41, at(1), track())  # the link exists already: kept
        model.fired(uid(2), fired, 42, at(1), track())
        model.fired(uid(9), fired, 49, at(1), track())  # no such cron: nothing to link
        model.remove(uid(2), track())

    def check(model: CronsTables) -> None:
        assert [r["id"] for r in model.rows("crons", order_by="id")] == [1, 4]
        assert model.rows("cron_builds") == [{"cron_id": 1, "build_id": 41, "due": at(1)}]
        assert model.rows("crons", order_by="id")[0]["prev_run"] == at(1)

    return Scenario(CronsTables, CronsView, run, check)


# --- users, namespaces, invites, webhooks ------------------------------------------------


def users_run(model: UsersTables, track: Track) -> None:
    model.add_user({"id": 1, "username": "a", "email": "a@x", "created_at": T0}, track())
    model.add_user({"id": 2, "username": "b", "email": "b@x", "created_at": T0}, track())
    token = {
        "user_id": 1,
        "name": "ci",
        "scopes": "build:read",
        "expires_at": None,
        "created_at": T0,
    }
    model.add_token({"id": 1, "aggregate_id": uid(1), "token_hash": "h1", **token}, track())
    model.add_token({"id": 2, "aggregate_id": uid(2), "token_hash": "h2", **token}, track())
    model.revoke_token(uid(1), track())
    model.revoke_token(uid(2), track.again(5))


def users_check(model: UsersTables) -> None:
    assert [(r["id"], r["admin"]) for r in model.rows("users", order_by="id")] == [
        (1, False),
        (2, False),
    ]
    assert [(r["id"], r["revoked"]) for r in model.rows("tokens", order_by="id")] == [
        (1, True),
        (2, False),
    ]


def namespace_row(n: int, root: int, parent: int | None, visibility: str) -> dict[str, Any]:
    return {
        "id": n,
        "aggregate_id": uid(n),
        "user_id": 1,
        "root_id": root,
        "parent_id": parent,
        "name": f"n{n}",
        "path": f"p{n}",
        "level": 0 if parent is None else 1,
        "description": "",
        "visibility": visibility,
        "created_at": at(n),
    }


def namespaces_run(model: NamespacesTables, track: Track) -> None:
    model.add(namespace_row(1, 1, None, "public"), track())
    model.add(namespace_row(2, 1, 1, "private"), track())  # takes the root's visibility
    model.add(namespace_row(3, 3, None, "private"), track())
    model.describe(uid(2), "child", track())
    model.set_visibility(uid(3), "internal", track())
    for user_id in (6, 7, 6):
        model.add_collaborator(uid(1), user_id, at(9), track())
    model.add_collaborator(uid(3), 6, at(9), track())
    model.add_collaborator(uid(99), 6, at(9), track())  # no such namespace
    model.remove_collaborator(uid(1), 7, track())
    model.remove(uid(3), track())
    model.remove(uid(2), track())
    model.remove(uid(1), track.again(3))


def namespaces_check(model: NamespacesTables) -> None:
    rows = model.rows("namespaces", order_by="id")
    assert [(r["id"], r["visibility"], r["description"]) for r in rows] == [
        (1, "public", ""),
    ]
    assert model.rows("collaborators") == [{"root_id": 1, "user_id": 6, "created_at": at(9)}]


def invites_run(model: InvitesTables, track: Track) -> None:
    for n, namespace_id in ((1, 3), (2, 3), (3, 4), (4, 5)):
        row = {"namespace_id": namespace_id, "root_id": 1, "invitee_id": n, "inviter_id": 9}
        model.add({"id": n, "aggregate_id": uid(n), **row, "created_at": at(n)}, track())
    model.remove(uid(4), track())
    model.remove_in_namespace(3, track())
    model.remove(uid(3), track.again(1))


def invites_check(model: InvitesTables) -> None:
    assert [r["id"] for r in model.rows("invites")] == [3]


def webhooks_run(model: WebhooksTables, track: Track) -> None:
    for n, namespace_id in ((1, 3), (2, 3), (3, 4)):
        settings = {"payload_url": f"https://x/{n}", "ssl": True, "active": True}
        row = {"id": n, "aggregate_id": uid(n), "user_id": 1, "author_id": 2, **settings}
        common = {"events": ["build_submitted"], "secret": None, "updated_at": T0}
        model.add({**row, "namespace_id": namespace_id, "created_at": T0, **common}, track())
    model.update(uid(1), {"events": [], "secret": "sealed", "updated_at": at(1)}, track())
    model.update(uid(3), {"events": ["a", "b"], "ssl": False}, track())
    model.remove(uid(2), track())
    model.remove_in_namespace(4, track())
    model.remove(uid(1), track.again(2))


def webhooks_check(model: WebhooksTables) -> None:
    [row] = model.rows("webhooks")
    assert (row["id"], row["events"], row["secret"], row["updated_at"]) == (1, [], "sealed", at(1))


# --- builds ------------------------------------------------------------------------------


def build_parts() -> dict[str, list[dict[str, Any]]]:
    jobs = [
        {"id": 11 + i, "position": i, "stage": "s", "name": f"j{i}", "commands": "make"}
        for i in range(3)
    ]
    artifact = {"job_id": 12, "user_id": 2, "source": "out", "created_at": T0}
    snapshot_key = {"key_id": 5, "name": "k", "config": "", "key": "sealed", "location": "/k"}
    parts = {
        "build_jobs": [{**job, "status": "queued", "created_at": T0} for job in jobs],
        "build_artifacts": [
            {"id": 21, "name": "a", **artifact},
            {"id": 22, "name": "b", **artifact},
        ],
        "build_tags": [{"id": 61, "user_id": 3, "name": "nightly", "created_at": T0}],
        "build_variables": [
            {"id": 31, "variable_id": None, "key": "K", "value": "sealed", "masked": True}
        ],
        "build_keys": [{"id": 41, **snapshot_key}],
        "build_objects": [{"id": 51, "object_id": 6, "name": "o", "destination": "o.bin"}],
    }
    return {table: [{**row, "build_id": 1} for row in rows] for table, rows in parts.items()}


def build_row(n: int, namespace_id: int | None) -> dict[str, Any]:
    return {
        "id": n,
        "aggregate_id": uid(n),
        "user_id": 2,
        "namespace_id": namespace_id,
        "submitter_id": 3,
        "number": 6 + n,
        "manifest": "m",
        "driver": {"type": "os"},
        "trigger": {"type": "manual", "data": {"n": [1, 2]}},
        "created_at": at(n),
    }


def builds_run(model: BuildsTables, track: Track) -> None:
    model.add(build_row(1, 9), build_parts(), track())
    model.add(build_row(2, None), {}, track())
    model.tag(uid(1), [{"id": 62, "user_id": 3, "name": "v1", "created_at": at(1)}], track())
    model.untag(uid(1), "nightly", track())
    model.update(uid(1), {"pinned": True, "kill_requested": True}, track())
    model.claimed(uid(1), "w1", at(10), at(2), track())
    model.job_finished(11, "passed", at(3), track())
    model.job_started(12, at(3), track())
    collected = {"size": 10, "md5": "m", "sha256": "s", "collected_at": at(4)}
    model.artifact_collected(21, collected, track())
    model.orphaned(uid(1), {"id": 63, "user_id": 3, "name": "orphaned"}, at(11), track())
    model.claimed(uid(1), "w2", at(30), at(12), track())
    model.job_started(11, at(13), track())
    model.finished(uid(1), "failed", at(14), track())
    model.killed(uid(2), at(15), track())
    model.detach_namespace(9, track())
    model.update(uid(1), {"lease_until": at(99)}, track.again(3))  # ignored
    model.job_finished(12, "passed", at(20), track.again(4))  # ignored, and not notified


def builds_check(model: BuildsTables) -> None:
    builds = model.rows("builds", order_by="id")
    assert [(b["status"], b["finished_at"], b["namespace_id"]) for b in builds] == [
        ("failed", at(14), None),
        ("killed", at(15), None),
    ]
    assert (builds[0]["worker"], builds[0]["started_at"], builds[0]["lease_until"]) == (
        "w2",
        at(12),
        None,
    )
    assert (builds[0]["pinned"], builds[0]["kill_requested"]) == (True, True)
    jobs = model.rows("build_jobs", order_by="id")
    assert [(j["status"], j["started_at"], j["finished_at"]) for j in jobs] == [
        ("failed", at(13), at(14)),
        ("failed", None, None),
        ("failed", None, None),
    ]
    assert [a["collected_at"] for a in model.rows("build_artifacts", order_by="id")] == [None, None]
    assert [t["name"] for t in model.rows("build_tags", order_by="id")] == ["v1", "orphaned"]


SCENARIOS = {
    "variables": resource_scenario(VariablesTables, VariablesView),
    "keys": resource_scenario(KeysTables, KeysView),
    "objects": resource_scenario(ObjectsTables, ObjectsView),
    "images": resource_scenario(ImagesTables, ImagesView),
    "crons": crons_scenario(),
    "users": Scenario(UsersTables, UsersView, users_run, users_check),
    "namespaces": Scenario(NamespacesTables, NamespacesView, namespaces_run, namespaces_check),
    "invites": Scenario(InvitesTables, InvitesView, invites_run, invites_check),
    "webhooks": Scenario(WebhooksTables, WebhooksView, webhooks_run, webhooks_check),
    "builds": Scenario(BuildsTables, BuildsView, builds_run, builds_check, STATUS_CHANNEL),
}


# --- the test ---------------------------------------------------------------------------


def every_row(model: ReadModel) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, in key order (text order would depend on the collation)."""
    return {
        table: model.rows(table, order_by=", ".join(shape.keys[0]))
        for table, shape in model.shapes().items()
    }


@pytest.mark.parametrize("name", SCENARIOS)
def test_postgres_view_holds_what_its_in_memory_twin_holds(
    name: str, datastore: PostgresDatastore, settings: Settings
) -> None:
    scenario = SCENARIOS[name]
    live = scenario.view(datastore)
    live.create_table()
    memory = in_memory(scenario.tables)
    assert isinstance(memory, MemoryView)

    with listening(settings, scenario.channel) as notified:
        scenario.run(live, Track())
        scenario.run(memory, Track())

        assert every_row(live) == every_row(memory)
        scenario.check(live)
        scenario.check(memory)
        assert notified() == memory.notifications
    if scenario.channel is not None:
        assert memory.notifications


@contextmanager
def listening(
    settings: Settings, channel: str | None
) -> Iterator[Callable[[], list[tuple[str, str]]]]:
    """What PostgreSQL notifies on `channel` meanwhile (nothing to listen to: nothing)."""
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if channel is not None:
            conn.execute(f"LISTEN {channel}")

        def notified() -> list[tuple[str, str]]:
            if channel is None:
                return []
            # Each notification was committed before this call: a short wait suffices.
            return [(n.channel, n.payload) for n in conn.notifies(timeout=0.5)]

        yield notified
