"""Read models on a real PostgreSQL: handlers, exactly-once writes, rebuild, status, runners."""

from __future__ import annotations

import logging
import random
import string
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Recording, Tracking
from eventsourcing.projection import Projection

from domain.index import Index
from domain.namespaces import Namespace
from domain.origin import Origin
from domain.scopes import Scopes
from domain.tokens import Token
from domain.users import User
from infrastructure.bootstrap import Marid
from infrastructure.ids import PostgresIds
from infrastructure.settings import Settings
from projections.base import View, lock_key
from projections.maintenance import (
    RebuildRunningError,
    catch_up,
    rebuild,
    stale_tables,
    status,
    upgrade,
)
from projections.namespaces import NamespacesProjection, NamespacesView
from projections.registry import PROJECTIONS
from projections.runner import Leadership, Runner
from projections.users import UsersProjection, UsersView
from tests.conftest import wired

ORIGIN = Origin.system("test")
Rows = dict[tuple[str, str], list[dict[str, Any]]]


@pytest.fixture
def idle(settings: Settings) -> Iterator[Marid]:
    """A second marid on the same database whose runners are never started."""
    instance = wired(settings)
    yield instance
    instance.close()


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes (a bounded wait, not a sleep)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.01)
    return True


def all_rows(marid: Marid) -> Rows:
    """Every row of every table of every read model."""
    return {
        (name, table): projection.view.rows(table)
        for name, projection in marid.projections.items()
        for table in projection.view.tables
    }


def replayed_rows(marid: Marid) -> Rows:
    """What every read model holds when built from the whole event log, in scratch tables."""
    rows: Rows = {}
    for name, (projection_class, view_class) in PROJECTIONS.items():
        scratch = view_class(marid.datastore, suffix="_replay")
        scratch.create_table()
        try:
            catch_up(marid.app, projection_class(view=scratch))
            rows.update({(name, table): scratch.rows(table) for table in view_class.tables})
        finally:
            with marid.datastore.transaction(commit=True) as curs:
                for table in view_class.tables:
                    curs.execute(f"DROP TABLE {scratch.t(table)}")
                curs.execute(f"DROP TABLE {scratch.tracking_table_name}")
    return rows


def positions(marid: Marid) -> dict[str, int | None]:
    return {
        name: projection.view.max_tracking_id(marid.app.name)
        for name, projection in marid.projections.items()
    }


def history(marid: Marid) -> list[Recording[UUID]]:
    """Users, tokens (one revoked), nested namespaces, changes and a subtree delete."""
    app = marid.app
    outcomes: list[Any] = []
    users = {}
    for name in ("alice", "bob", "carol"):
        outcome = app.register_user(name, f"{name}@example.com", ORIGIN)
        users[name] = outcome.value
        outcomes.append(outcome)
    alice, bob = users["alice"], users["bob"]
    expires = datetime(2031, 1, 1, tzinfo=UTC)
    outcomes.append(app.create_token(alice, "ci", "hash-a1", Scopes.all(), None, ORIGIN))
    revoked = app.create_token(alice, "old", "hash-a2", Scopes.parse("build:read"), None, ORIGIN)
    outcomes.append(revoked)
    outcomes.append(app.revoke_token(revoked.value, ORIGIN))
    outcomes.append(app.create_token(bob, "laptop", "hash-b1", Scopes.all(), expires, ORIGIN))

    def ns(owner: int, name: str, parent: str | None = None, visibility: str | None = None) -> int:
        outcome = app.create_namespace(owner, name, parent, f"about {name}", visibility, ORIGIN)
        outcomes.append(outcome)
        return int(outcome.value)

    proj = ns(alice, "proj")
    sub = ns(alice, "sub", "proj")
    ns(alice, "deep", "proj/sub")
    ns(alice, "other", "proj")
    tools = ns(bob, "tools", visibility="internal")
    ns(bob, "lib", "tools")
    gone = ns(alice, "gone", visibility="public")
    ns(alice, "gonechild", "gone")
    ns(alice, "gonegrandchild", "gone/gonechild")
    outcomes.append(app.update_namespace(proj, alice, None, "public", ORIGIN))
    ns(alice, "late", "proj/sub")
    outcomes.append(app.update_namespace(sub, alice, "changed", "internal", ORIGIN))
    outcomes.append(app.update_namespace(tools, bob, "", "private", ORIGIN))
    carol = users["carol"]
    joined = app.send_invite(sub, alice, "bob", ORIGIN)  # a child's invite joins the root
    outcomes += [joined, app.accept_invite(joined.value, bob, ORIGIN)]
    outcomes.append(app.send_invite(proj, alice, "carol", ORIGIN))
    outcomes.append(app.send_invite(gone, alice, "carol", ORIGIN))  # goes with `gone`
    left = app.send_invite(tools, bob, "carol@example.com", ORIGIN)
    outcomes += [left, app.accept_invite(left.value, carol, ORIGIN)]
    outcomes.append(app.remove_collaborator(tools, bob, "carol", ORIGIN))
    refused = app.send_invite(tools, bob, "alice", ORIGIN)
    outcomes += [refused, app.reject_invite(refused.value, alice, ORIGIN)]
    outcomes.append(app.delete_namespace(gone, alice, ORIGIN))
    outcomes.append(app.delete_namespace(sub, alice, ORIGIN))
    ns(alice, "gone")
    return [r for outcome in outcomes for r in outcome.recordings]


def settle(marid: Marid, recordings: list[Recording[UUID]]) -> None:
    assert marid.read_models.wait_for(recordings, timeout=10)


def apply(projection: Projection[Any], events: list[Any], first: int = 1) -> None:
    """Call the projection's handlers directly, one notification id per event."""
    for notification_id, event in enumerate(events, start=first):
        projection.process_event(event, Tracking("Marid", notification_id))


# --- handlers called directly ------------------------------------------------------------


def test_user_handlers_write_users_and_tokens(idle: Marid) -> None:
    projection = idle.projections["users"]
    user = User(public_id=1, username="Alice", email="alice@example.com", origin=ORIGIN)
    expires = datetime(2031, 1, 1, tzinfo=UTC)
    token = Token(
        public_id=7,
        user_id=1,
        name="ci",
        token_hash="hash",
        scopes="build:read",
        expires_at=expires,
        origin=ORIGIN,
    )
    token.revoke(ORIGIN)
    events = user.collect_events() + token.collect_events()

    apply(projection, events)

    view = projection.view
    assert view.rows("users") == [
        {
            "id": 1,
            "username": "Alice",
            "email": "alice@example.com",
            "created_at": user.created_on,
            "admin": False,
            "disabled": False,
        }
    ]
    assert view.rows("tokens") == [
        {
            "id": 7,
            "aggregate_id": token.id,
            "user_id": 1,
            "name": "ci",
            "token_hash": "hash",
            "scopes": "build:read",
            "expires_at": expires,
            "revoked": True,
            "created_at": token.created_on,
            "app_id": None,
        }
    ]
    assert view.max_tracking_id("Marid") == 3


def test_namespace_handlers_write_the_tree(idle: Marid) -> None:
    projection = idle.projections["namespaces"]
    root = Namespace.create_root(1, 5, "proj", "root", "private", ORIGIN)
    child = root.create_child(2, "sub", "child", ORIGIN)
    created = root.collect_events() + child.collect_events()
    root.update("root!", "public", ORIGIN)
    grandchild = child.create_child(3, "deep", "", ORIGIN)  # the child's copy says private
    child.update("child!", "internal", ORIGIN)  # a child's visibility is ignored
    changed = root.collect_events() + grandchild.collect_events() + child.collect_events()

    apply(projection, created + changed)

    rows = projection.view.rows("namespaces", order_by="id")
    assert [(r["id"], r["path"], r["level"], r["root_id"], r["parent_id"]) for r in rows] == [
        (1, "proj", 0, 1, None),
        (2, "proj/sub", 1, 1, 1),
        (3, "proj/sub/deep", 2, 1, 2),
    ]
    assert [(r["user_id"], r["description"], r["visibility"]) for r in rows] == [
        (5, "root!", "public"),
        (5, "child!", "public"),
        (5, "", "public"),
    ]
    assert [r["aggregate_id"] for r in rows] == [root.id, child.id, grandchild.id]
    assert rows[0]["created_at"] == root.created_on


def test_namespace_delete_removes_the_row_and_the_trees_collaborators(idle: Marid) -> None:
    projection = idle.projections["namespaces"]
    root = Namespace.create_root(1, 5, "proj", "", "private", ORIGIN)
    child = root.create_child(2, "sub", "", ORIGIN)
    apply(projection, root.collect_events() + child.collect_events())
    with idle.datastore.transaction(commit=True) as curs:
        curs.execute("INSERT INTO collaborators VALUES (1, 6, now()), (1, 7, now())")
    child.delete(ORIGIN)
    root.delete(ORIGIN)

    apply(projection, child.collect_events(), first=10)
    collaborators_after_child = projection.view.rows("collaborators")
    apply(projection, root.collect_events(), first=20)

    assert len(collaborators_after_child) == 2
    assert projection.view.rows("namespaces") == []
    assert projection.view.rows("collaborators") == []


def test_events_without_a_handler_only_advance_tracking(idle: Marid) -> None:
    projection = idle.projections["users"]
    index = Index(kind="username", key="alice", holder=1, origin=ORIGIN)

    apply(projection, index.collect_events(), first=4)

    assert projection.view.rows("users") == []
    assert projection.view.max_tracking_id("Marid") == 4


def test_reapplying_a_tracked_notification_changes_nothing(idle: Marid) -> None:
    projection = idle.projections["users"]
    token = Token(
        public_id=1,
        user_id=1,
        name="ci",
        token_hash="hash",
        scopes="build:read",
        expires_at=None,
        origin=ORIGIN,
    )
    created = token.collect_events()
    token.revoke(ORIGIN)
    revoked = token.collect_events()
    apply(projection, created, first=5)

    apply(projection, created, first=5)
    apply(projection, revoked, first=4)
    apply(projection, revoked, first=5)

    assert [row["revoked"] for row in projection.view.rows("tokens")] == [False]
    assert projection.view.max_tracking_id("Marid") == 5


def test_next_notification_applies_after_a_repeated_one(idle: Marid) -> None:
    projection = idle.projections["users"]
    user = User(public_id=1, username="alice", email="alice@example.com", origin=ORIGIN)
    other = User(public_id=2, username="bob", email="bob@example.com", origin=ORIGIN)
    registered = user.collect_events()
    apply(projection, registered, first=1)
    apply(projection, registered, first=1)

    apply(projection, other.collect_events(), first=2)

    assert [row["username"] for row in projection.view.rows("users")] == ["alice", "bob"]


# --- rebuild -----------------------------------------------------------------------------


def test_rebuild_produces_exactly_the_live_rows(marid: Marid) -> None:
    settle(marid, history(marid))
    live, live_positions = all_rows(marid), positions(marid)

    applied = {
        name: rebuild(marid.app, marid.datastore, *classes) for name, classes in PROJECTIONS.items()
    }

    assert applied["users"] > 0
    assert applied["namespaces"] > 0
    assert all_rows(marid) == live
    assert positions(marid) == live_positions
    assert live[("namespaces", "namespaces")]
    assert live[("namespaces", "collaborators")]
    assert live[("invites", "invites")]
    assert any(row["revoked"] for row in live[("users", "tokens")])


def test_rebuild_twice_in_a_row_keeps_names_and_rows(marid: Marid) -> None:
    settle(marid, history(marid))
    live = all_rows(marid)

    for _ in range(2):
        for classes in PROJECTIONS.values():
            rebuild(marid.app, marid.datastore, *classes)

    assert all_rows(marid) == live
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public' "
            "UNION ALL SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        names = {row["name"] for row in curs.fetchall()}
        curs.execute(
            "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = 'public' AND c.contype = 'p'"
        )
        constraints = {row["conname"] for row in curs.fetchall()}
    for _, view_class in PROJECTIONS.values():
        assert set(view_class.indexes) <= names
        assert set(view_class.tables) <= names
        assert {f"{table}_pkey" for table in view_class.tables} <= constraints
    assert not [name for name in names | constraints if "_rb" in name]


def test_rebuild_runs_while_the_runner_follows_new_events(
    marid: Marid, caplog: pytest.LogCaptureFixture
) -> None:
    settle(marid, history(marid))
    app = marid.app
    alice = app.user_id_for("alice")
    assert alice is not None
    recordings: list[Recording[UUID]] = []
    stop = threading.Event()

    def write(prefix: str, i: int) -> None:
        recordings.extend(
            app.create_namespace(alice, f"{prefix}{i}", None, None, None, ORIGIN).recordings
        )
        recordings.extend(
            app.register_user(f"{prefix}{i}", f"{prefix}{i}@example.com", ORIGIN).recordings
        )

    def background() -> None:
        for i in range(500):
            if stop.is_set():
                return
            write("bg", i)

    injected: list[int] = []

    class WritingShadow(NamespacesView):
        """Writes new events while the rebuild fills its shadow tables."""

        def write(self, tracking: Tracking, change: Any) -> None:
            super().write(tracking, change)
            if len(injected) < 3:
                injected.append(tracking.notification_id)
                write("mid", len(injected))

    writer = threading.Thread(target=background)
    writer.start()
    try:
        assert eventually(lambda: len(recordings) >= 6)
        rebuild(app, marid.datastore, NamespacesProjection, WritingShadow)
        rebuild(app, marid.datastore, UsersProjection, UsersView)
    finally:
        stop.set()
        writer.join(timeout=60)
    for i in range(3):
        write("after", i)

    settle(marid, recordings)
    assert all_rows(marid) == replayed_rows(marid)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    paths = {row["path"] for row in marid.projections["namespaces"].view.rows("namespaces")}
    assert {"after0", "after1", "after2"} <= paths
    assert {"mid1", "mid2", "mid3"} <= paths
    assert len([path for path in paths if path.startswith("bg")]) >= 3


def swap_lock_held(marid: Marid, view: View) -> bool:
    """Whether some transaction holds the exclusive swap lock of this view's read model."""
    key = view.swap_lock & 0xFFFFFFFFFFFFFFFF
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND mode = 'ExclusiveLock' AND classid = %s::oid AND objid = %s::oid",
            (key >> 32, key & 0xFFFFFFFF),
        )
        row = curs.fetchone()
    return row is not None and row["held"] > 0


def test_event_written_while_tables_swap_is_applied_exactly_once(
    marid: Marid, caplog: pytest.LogCaptureFixture
) -> None:
    settle(marid, history(marid))
    app = marid.app
    alice = app.user_id_for("alice")
    assert alice is not None
    during_swap: list[Recording[UUID]] = []

    class ShadowWritingUnderLock(NamespacesView):
        """Records an event once the swap lock is held, just before the last catch-up.

        The live runner receives it while the swap blocks it, and must skip it after the
        swap, since the rebuilt tables already hold it.
        """

        def max_tracking_id(self, application_name: str) -> int | None:
            if not during_swap and swap_lock_held(marid, self):
                outcome = app.create_namespace(alice, "swapped", None, None, None, ORIGIN)
                during_swap.extend(outcome.recordings)
            return super().max_tracking_id(application_name)

    rebuild(app, marid.datastore, NamespacesProjection, ShadowWritingUnderLock)
    after = app.create_namespace(alice, "afterswap", None, None, None, ORIGIN)

    settle(marid, during_swap + after.recordings)
    assert during_swap
    assert all_rows(marid) == replayed_rows(marid)
    paths = [row["path"] for row in marid.projections["namespaces"].view.rows("namespaces")]
    assert paths.count("swapped") == 1
    assert "afterswap" in paths
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_rebuild_of_an_empty_event_log_leaves_empty_read_models(idle: Marid) -> None:
    applied = [rebuild(idle.app, idle.datastore, *classes) for classes in PROJECTIONS.values()]

    assert applied == [0] * len(PROJECTIONS)
    assert all(rows == [] for rows in all_rows(idle).values())


# --- status ------------------------------------------------------------------------------


def test_status_reports_position_head_and_lag(marid: Marid, idle: Marid) -> None:
    settle(marid, history(marid))
    marid.read_models.stop()
    before = {name: status(marid.app, p) for name, p in marid.projections.items()}
    outcome = idle.app.register_user("dave", "dave@example.com", ORIGIN)
    idle.app.create_token(outcome.value, "ci", "hash-d", Scopes.all(), None, ORIGIN)
    created = idle.app.create_namespace(outcome.value, "dproj", None, None, None, ORIGIN)

    pending = {name: status(marid.app, p) for name, p in marid.projections.items()}
    idle.catch_up()
    caught_up = {name: status(marid.app, p) for name, p in marid.projections.items()}

    head = idle.app.recorder.max_notification_id()
    assert [(s.lag, s.head < head) for s in before.values()] == [(0, True)] * len(before)
    assert (pending["users"].lag, pending["namespaces"].lag) == (2, 1)
    assert all(s.head == head for s in pending.values())
    assert all(pending[n].position == before[n].position for n in pending)
    assert [s.lag for s in caught_up.values()] == [0] * len(caught_up)
    assert caught_up["namespaces"].position == max(
        r.notification.id for r in created.recordings if "Namespace" in r.notification.topic
    )
    assert caught_up["users"].position > before["users"].position


def test_catch_up_waits_for_the_process_that_leads(marid: Marid, idle: Marid) -> None:
    runners = marid.read_models.runners.values()
    assert eventually(lambda: all(runner.is_leader for runner in runners))
    outcome = idle.app.register_user("alice", "alice@example.com", ORIGIN)

    idle.catch_up()

    assert idle.users.user(outcome.value) is not None


# --- runners and read-your-writes --------------------------------------------------------


def registered_id(recordings: list[Recording[UUID]]) -> int:
    """The notification id of the user's registration (the users read model skips indexes)."""
    return next(
        r.notification.id for r in recordings if isinstance(r.domain_event, User.Registered)
    )


def test_one_runner_leads_and_another_takes_over_when_it_stops(idle: Marid) -> None:
    def runner() -> Runner:
        view = UsersView(idle.datastore)
        return Runner(idle.app, UsersProjection(view=view), idle.conninfo, retry_interval=0.05)

    runners = [runner(), runner()]
    for each in runners:
        each.start()
    try:
        assert eventually(lambda: any(r.is_leader for r in runners))
        leader = next(r for r in runners if r.is_leader)
        follower = next(r for r in runners if r is not leader)
        first = idle.app.register_user("alice", "alice@example.com", ORIGIN)
        first_id = registered_id(first.recordings)
        assert leader.wait_local(first_id, timeout=30)
        followed_while_led = (follower.is_leader, follower.position)

        leader.stop()
        taken_over = eventually(lambda: follower.is_leader)
        second = idle.app.register_user("bob", "bob@example.com", ORIGIN)
        second_id = registered_id(second.recordings)
        applied = follower.wait_local(second_id, timeout=30)
    finally:
        for each in runners:
            each.stop()

    assert followed_while_led == (False, 0)
    assert taken_over
    assert applied
    assert not leader.is_leader
    users = idle.projections["users"].view.rows("users", order_by="id")
    assert [row["username"] for row in users] == ["alice", "bob"]


def test_wait_for_returns_once_the_read_model_has_the_row(marid: Marid) -> None:
    outcome = marid.app.register_user("alice", "alice@example.com", ORIGIN)

    reached = marid.read_models.wait_for(outcome.recordings, timeout=10)

    assert reached
    user = marid.users.user(outcome.value)
    assert user is not None
    assert user.username == "alice"


def test_wait_for_gives_up_while_nobody_projects_the_events(idle: Marid) -> None:
    outcome = idle.app.register_user("alice", "alice@example.com", ORIGIN)

    reached = idle.read_models.wait_for(outcome.recordings, timeout=0.3)

    assert not reached
    assert idle.users.user(outcome.value) is None


def test_wait_for_sees_another_process_apply_the_events(marid: Marid, idle: Marid) -> None:
    outcome = idle.app.register_user("alice", "alice@example.com", ORIGIN)

    reached = idle.read_models.wait_for(outcome.recordings, timeout=10)

    assert reached
    assert idle.users.user(outcome.value) is not None


def test_wait_for_targets_only_the_read_models_that_follow_the_events(marid: Marid) -> None:
    outcome = marid.app.create_namespace(
        marid.app.register_user("alice", "a@example.com", ORIGIN).value,
        "proj",
        None,
        None,
        None,
        ORIGIN,
    )

    targets = marid.read_models.targets(outcome.recordings)

    created = [r.notification.id for r in outcome.recordings if "Namespace" in r.notification.topic]
    assert targets["namespaces"] == max(created)
    assert "users" not in targets


# --- ids ---------------------------------------------------------------------------------


def test_ids_increase_per_kind_independently(idle: Marid) -> None:
    ids = PostgresIds(idle.datastore)

    drawn = [(kind, ids.next_id(kind)) for kind in ("widget", "gadget", "widget", "widget")]

    assert drawn == [("widget", 1), ("gadget", 1), ("widget", 2), ("widget", 3)]


def test_ids_of_a_new_kind_are_unique_across_concurrent_allocators(idle: Marid) -> None:
    kinds = ["race_" + "".join(random.choices(string.ascii_lowercase, k=10)) for _ in range(3)]
    drawn: dict[str, list[int]] = {kind: [] for kind in kinds}
    failures: list[Exception] = []

    for kind in kinds:
        start = threading.Barrier(6)

        def allocate(kind: str = kind, start: threading.Barrier = start) -> None:
            allocator = PostgresIds(idle.datastore)  # as if in another process
            start.wait()
            try:
                drawn[kind].extend(allocator.next_id(kind) for _ in range(3))
            except Exception as exc:  # collected and asserted below
                failures.append(exc)

        threads = [threading.Thread(target=allocate) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert failures == []
    assert all(sorted(values) == list(range(1, 19)) for values in drawn.values())


def test_bad_id_kind_is_refused(idle: Marid) -> None:
    with pytest.raises(ValueError, match="bad id kind"):
        PostgresIds(idle.datastore).next_id("users; DROP TABLE users")


def test_token_expiry_round_trips_through_the_read_model(marid: Marid) -> None:
    user_id = marid.app.register_user("alice", "alice@example.com", ORIGIN).value
    expires = datetime.now(UTC) + timedelta(days=3)

    outcome = marid.app.create_token(user_id, "ci", "h", Scopes.all(), expires, ORIGIN)
    marid.settle(outcome)

    (token,) = marid.users.tokens(user_id)
    assert token.expires_at == expires


def test_rebuild_drops_shadow_tables_a_killed_rebuild_left(marid: Marid) -> None:
    settle(marid, history(marid))
    live = all_rows(marid)
    # What a rebuild killed half-way leaves: shadow tables and their tracking table.
    abandoned = NamespacesView(marid.datastore, suffix="_rb0badf00d")
    abandoned.create_table()

    rebuild(marid.app, marid.datastore, NamespacesProjection, NamespacesView)

    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {row["tablename"] for row in curs.fetchall()}
    assert not [name for name in tables if "_rb" in name]
    assert all_rows(marid) == live


def test_a_second_concurrent_rebuild_of_one_read_model_is_refused(marid: Marid) -> None:
    settle(marid, history(marid))
    key = lock_key("marid:rebuild:namespaces")
    with marid.datastore.get_connection() as other:  # another process rebuilding
        other.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            with pytest.raises(RebuildRunningError, match="namespaces is already running"):
                rebuild(marid.app, marid.datastore, NamespacesProjection, NamespacesView)
            # Other read models are not blocked.
            rebuild(marid.app, marid.datastore, UsersProjection, UsersView)
        finally:
            other.execute("SELECT pg_advisory_unlock(%s)", (key,))
    rebuild(marid.app, marid.datastore, NamespacesProjection, NamespacesView)


def test_a_read_model_of_an_older_shape_is_rebuilt_when_marid_starts(
    marid: Marid, settings: Settings
) -> None:
    settle(marid, history(marid))
    live = all_rows(marid)
    with marid.datastore.transaction(commit=True) as curs:  # as an older release left it
        curs.execute("ALTER TABLE namespaces DROP COLUMN description")
        curs.execute("ALTER TABLE namespaces ADD COLUMN retired text")
    assert stale_tables(NamespacesView(marid.datastore)) == ["namespaces"]

    upgraded = wired(settings)
    try:
        assert stale_tables(NamespacesView(marid.datastore)) == []
        assert all_rows(marid) == live
        # Nothing to do the next time.
        assert not upgrade(marid.app, marid.datastore, NamespacesProjection, NamespacesView)
    finally:
        upgraded.close()


def test_one_leadership_connection_holds_the_locks_of_a_process(marid: Marid) -> None:
    assert eventually(lambda: all(r.is_leader for r in marid.read_models.runners.values()))
    other = Leadership(marid.conninfo)  # another process
    try:
        for name in PROJECTIONS:  # every runner of `marid` leads, on one connection
            assert not other.try_acquire(lock_key(f"marid:projection:{name}"))
        free = lock_key("marid:test:free")
        assert marid.leadership.try_acquire(free)
        assert not other.try_acquire(free)
        marid.leadership.release(free)
        assert other.try_acquire(free)
        other.release(free)
    finally:
        other.close()
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT count(DISTINCT pid) AS n FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        row = curs.fetchone()
    assert row is not None
    # The read models' locks share one session (the webhook dispatcher leads on its own).
    assert row["n"] <= 2
