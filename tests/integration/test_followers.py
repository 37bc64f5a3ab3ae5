"""Followers' health on a real PostgreSQL: no event skipped under concurrent writes,
rolled-back ids reported as normal gaps, an event committed below a position as skipped
(also while the follower is idle); the workers' positions seen from any process."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import psycopg
import pytest
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from litestar.testing import TestClient

from api.app import create_app
from infrastructure.bootstrap import Marid
from infrastructure.followers import followers
from projections.base import View
from projections.follower_positions import POSITIONS_TABLE, PositionReport
from projections.followers import GapWatch
from projections.maintenance import status
from projections.runner import Runner
from tests.api.test_operations import value
from tests.conftest import TEST_ORIGIN, wired
from tests.integration.test_cli import Cli
from tests.integration.test_projections import eventually


class SeenView(View):
    projection_name = "seen_test"
    tables: ClassVar[dict[str, str]] = {}


class Seen(Projection[SeenView]):
    """Records every notification id it is given (all topics)."""

    name = "seen_test"
    topics = ()

    def __init__(self, view: SeenView) -> None:
        super().__init__(view)
        self.ids: list[int] = []

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.ids.append(tracking.notification_id)
        self.view.insert_tracking(tracking)


@pytest.fixture
def seen(marid: Marid) -> Iterator[tuple[Runner, Seen]]:
    view = SeenView(marid.datastore)
    view.create_table()
    projection = Seen(view)
    runner = Runner(marid.app, projection, marid.conninfo)  # type: ignore[arg-type]  # Projection is invariant in its view
    runner.start()
    yield runner, projection
    runner.stop()


def events_table(marid: Marid) -> str:
    return f"{marid.app.name.lower()}_events"


def committed_ids(marid: Marid) -> list[int]:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(f"SELECT notification_id AS id FROM {events_table(marid)} ORDER BY 1")
        return [int(row["id"]) for row in curs.fetchall()]


def rolled_back_id(marid: Marid) -> int:
    """Take an id from the events' sequence in a transaction that rolls back."""
    with psycopg.connect(marid.conninfo) as conn:
        row = conn.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))",
            (events_table(marid),),
        ).fetchone()
        conn.rollback()
    assert row is not None
    return int(row[0])


def commit_late(marid: Marid, gap: int) -> None:
    """Commit an event with an id a follower has passed: what a lost commit looks like."""
    with marid.datastore.transaction(commit=True) as curs:
        curs.execute(
            f"INSERT INTO {events_table(marid)} "
            "(originator_id, originator_version, topic, state, notification_id) "
            "VALUES (%s, 1, 'tests:Late', ''::bytea, %s)",
            (uuid.uuid4(), gap),
        )


def caught_up(marid: Marid, name: str) -> GapWatch:
    """The gap watch of a runner of `marid` once it has followed every event of its topics."""
    runner = marid.read_models.runners[name]
    head = marid.app.recorder.max_notification_id() or 0
    assert marid.read_models.wait_until(name, head, 15)
    assert eventually(lambda: runner.gaps is not None)
    assert runner.gaps is not None
    return runner.gaps


def test_followers_see_every_event_committed_concurrently_and_skip_none(
    marid: Marid, seen: tuple[Runner, Seen]
) -> None:
    runner, projection = seen

    def register(thread: int) -> None:
        for n in range(15):
            marid.app.register_user(f"u{thread}x{n}", f"u{thread}x{n}@example.com", TEST_ORIGIN)

    threads = [threading.Thread(target=register, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    head = marid.app.recorder.max_notification_id() or 0
    assert eventually(lambda: runner.position >= head, timeout=30)

    assert projection.ids == committed_ids(marid)
    assert caught_up(marid, "users").check() == []
    assert runner.gaps is not None
    assert runner.gaps.check() == []
    for name, p in marid.projections.items():
        assert status(marid.app, p).skipped == 0, name
    assert eventually(lambda: marid.users.count_users() == 60)


def test_rolled_back_id_is_reported_missing_and_not_skipped(marid: Marid) -> None:
    marid.settle(marid.app.register_user("ann", "ann@example.com", TEST_ORIGIN))
    gap = rolled_back_id(marid)
    marid.settle(marid.app.register_user("bob", "bob@example.com", TEST_ORIGIN))

    skipped = caught_up(marid, "users").check()

    assert gap not in committed_ids(marid)
    assert skipped == []
    row = status(marid.app, marid.projections["users"])
    assert (row.missing, row.skipped) == (1, 0)


def test_event_committed_below_a_position_is_reported_skipped(marid: Marid) -> None:
    marid.settle(marid.app.register_user("ann", "ann@example.com", TEST_ORIGIN))
    gap = rolled_back_id(marid)
    marid.settle(marid.app.register_user("bob", "bob@example.com", TEST_ORIGIN))
    gaps = caught_up(marid, "users")
    assert gaps.check() == []

    commit_late(marid, gap)
    skipped = gaps.check()

    assert skipped == [gap]
    row = status(marid.app, marid.projections["users"])
    assert (row.missing, row.skipped) == (0, 1)
    assert gaps.check() == []  # counted once
    assert status(marid.app, marid.projections["users"]).skipped == 1


def test_event_committed_below_a_position_while_idle_is_reported_skipped(marid: Marid) -> None:
    marid.settle(marid.app.register_user("ann", "ann@example.com", TEST_ORIGIN))
    gap = rolled_back_id(marid)
    marid.settle(marid.app.register_user("bob", "bob@example.com", TEST_ORIGIN))
    gaps = caught_up(marid, "users")
    assert eventually(lambda: gap in gaps.recent)  # noticed missing with no further event
    position = gaps.position

    commit_late(marid, gap)  # of no topic the follower follows: it stays idle

    assert eventually(lambda: status(marid.app, marid.projections["users"]).skipped == 1)
    assert gaps.position == position


def test_idle_checks_end_when_nothing_is_pending(marid: Marid) -> None:
    marid.settle(marid.app.register_user("ann", "ann@example.com", TEST_ORIGIN))

    gaps = caught_up(marid, "users")

    assert eventually(lambda: not gaps.ticking and gaps.checked == gaps.position)
    assert gaps.recent == {}


def test_status_command_and_metrics_show_gaps(marid: Marid) -> None:
    marid.settle(marid.app.register_user("ann", "ann@example.com", TEST_ORIGIN))
    rolled_back_id(marid)
    marid.settle(marid.app.register_user("bob", "bob@example.com", TEST_ORIGIN))
    caught_up(marid, "users")
    worker = marid.start_worker(drivers=("ssh",))
    assert eventually(lambda: worker.gaps is not None)

    lines = Cli(marid.settings).ok("projections", "status").splitlines()
    with TestClient(create_app(marid.settings, marid=marid)) as client:
        text = client.get("/metrics").text

    header = lines[0].split("\t")
    assert header[-3:] == ["gaps missing", "gaps skipped", "reported"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows["users"][-3:] == ["1", "0", "-"]
    assert rows["webhook_dispatch"][-2] == "0"
    assert value(text, "marid_projection_gaps_missing", projection="users") == 1
    assert value(text, "marid_projection_gaps_skipped_total", projection="users") == 0
    name = f"worker:{worker.name}"
    assert value(text, "marid_projection_position", projection=name) == worker.position
    assert value(text, "marid_projection_lag_events", projection=name) == 0
    assert value(text, "marid_projection_gaps_skipped_total", projection=name) == 0


# --- the workers' positions, from any process ----------------------------------------------


def reported_row(other: Marid, name: str) -> list[str]:
    """The `projections status` row of `name` as another process prints it."""
    lines = Cli(other.settings).ok("projections", "status").splitlines()
    return next(line.split("\t") for line in lines[1:] if line.split("\t")[0] == name)


def test_a_workers_position_is_seen_from_another_process(marid: Marid) -> None:
    worker = marid.start_worker(drivers=("ssh",))
    name = f"worker:{worker.name}"
    head = marid.app.recorder.max_notification_id() or 0
    other = wired(marid.settings)  # a process that runs no worker
    try:
        assert eventually(lambda: any(f.status.name == name for f in followers(other)))

        found = {f.status.name: f for f in followers(other)}[name]
        with TestClient(create_app(other.settings, marid=other)) as client:
            text = client.get("/metrics").text
    finally:
        other.close()

    assert (found.status.position, found.status.head, found.status.lag) == (head, head, 0)
    assert found.report is not None
    assert found.report.state == "running"
    assert value(text, "marid_projection_position", projection=name) == head
    assert value(text, "marid_projection_lag_events", projection=name) == 0
    assert value(text, "marid_follower_report_age_seconds", projection=name) < 30
    assert reported_row(marid, name)[-1].endswith("s ago")


def test_a_stopped_worker_is_listed_as_stopped_and_left_out_of_metrics(marid: Marid) -> None:
    worker = marid.start_worker(drivers=("ssh",))
    name = f"worker:{worker.name}"
    assert eventually(lambda: worker.report.position is not None)

    worker.stop()  # it reports its last position

    assert reported_row(marid, name)[-1].endswith(", stopped")
    with TestClient(create_app(marid.settings, marid=marid)) as client:
        text = client.get("/metrics").text
    assert f'projection="{name}"' not in text


def test_a_silent_worker_shows_as_stale_and_is_forgotten_after_a_day(marid: Marid) -> None:
    report = PositionReport(marid.datastore, "worker:gone", ["tests:Topic"])
    report.note(0)
    PositionReport(marid.datastore, "worker:long-gone", ["tests:Topic"]).note(0)
    with marid.datastore.transaction(commit=True) as curs:
        curs.execute(
            f"UPDATE {POSITIONS_TABLE} SET updated_at = now() - CASE follower "
            "WHEN 'worker:gone' THEN interval '10 minutes' ELSE interval '25 hours' END"
        )

    rows = {f.status.name: f for f in followers(marid)}

    assert rows["worker:gone"].reported == "10m ago, stale"
    assert "worker:long-gone" not in rows
    with TestClient(create_app(marid.settings, marid=marid)) as client:
        text = client.get("/metrics").text
    assert value(text, "marid_follower_report_age_seconds", projection="worker:gone") >= 600


def test_a_position_is_written_at_most_once_a_second_while_it_moves(marid: Marid) -> None:
    report = PositionReport(marid.datastore, "worker:busy", ["tests:Topic"])

    written = [report.note(position) for position in range(1, 200)]

    assert written[0] is True
    assert written.count(True) <= 2  # the test itself may take a little over a second
    assert {f.status.name: f for f in followers(marid)}["worker:busy"].status.position >= 1
