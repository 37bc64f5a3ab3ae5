"""Followers' health on a real PostgreSQL: no event skipped under concurrent writes,
rolled-back ids reported as normal gaps, an event committed below a position as skipped."""

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
from projections.base import View
from projections.followers import GapWatch
from projections.maintenance import status
from projections.runner import Runner
from tests.api.test_operations import value
from tests.conftest import TEST_ORIGIN
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

    with marid.datastore.transaction(commit=True) as curs:  # what a lost commit looks like
        curs.execute(
            f"INSERT INTO {events_table(marid)} "
            "(originator_id, originator_version, topic, state, notification_id) "
            "VALUES (%s, 1, 'tests:Late', ''::bytea, %s)",
            (uuid.uuid4(), gap),
        )
    skipped = gaps.check()

    assert skipped == [gap]
    row = status(marid.app, marid.projections["users"])
    assert (row.missing, row.skipped) == (0, 1)
    assert gaps.check() == []  # counted once
    assert status(marid.app, marid.projections["users"]).skipped == 1


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
    assert header[-2:] == ["gaps missing", "gaps skipped"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows["users"][-2:] == ["1", "0"]
    assert rows["webhook_dispatch"][-1] == "0"
    assert value(text, "marid_projection_gaps_missing", projection="users") == 1
    assert value(text, "marid_projection_gaps_skipped_total", projection="users") == 0
    name = f"worker:{worker.name}"
    assert value(text, "marid_projection_position", projection=name) == worker.position
    assert value(text, "marid_projection_lag_events", projection=name) == 0
    assert value(text, "marid_projection_gaps_skipped_total", projection=name) == 0
