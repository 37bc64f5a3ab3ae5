"""Leaders that notice they lost (issue 16): a process whose lock connection dies stops
leading within seconds and competes again; another process takes over; no event is applied
twice or skipped, even by a lost leader still applying a batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import Recording, Tracking
from eventsourcing.postgres import PostgresDatastore

from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from projections.base import View, lock_key
from projections.runner import Leadership
from tests.integration.test_projections import ORIGIN, all_rows, eventually, replayed_rows

APP = "Marid"
USERS = 120


def terminate(conninfo: str, pid: int | None) -> None:
    """End a server process, as a restart, an operator or a network failure would."""
    assert pid is not None
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
    assert row == (True,)


def test_leadership_notices_a_dead_connection_and_competes_again(settings: Settings) -> None:
    conninfo = str(settings.database_url)
    key = lock_key("marid:test:leadership")
    leadership = Leadership(conninfo, check_interval=0.2)
    lost = threading.Event()
    try:
        assert leadership.try_acquire(key, on_loss=lost.set)
        first_pid = leadership.pid()
        assert leadership.check() == set()
        terminate(conninfo, first_pid)
        assert lost.wait(5)  # the watcher found it
        assert not leadership.holds(key)
        assert leadership.check() == set()  # reported once
        assert leadership.try_acquire(key)  # a new connection
        assert leadership.pid() != first_pid
        assert leadership.holds(key)
    finally:
        leadership.close()


def test_a_lock_released_behind_its_back_is_noticed(settings: Settings) -> None:
    leadership = Leadership(str(settings.database_url), check_interval=60)
    key = lock_key("marid:test:unlocked")
    try:
        assert leadership.try_acquire(key)
        assert leadership._conn is not None
        leadership._conn.execute("SELECT pg_advisory_unlock_all()")
        assert leadership.check() == {key}
        assert not leadership.holds(key)
    finally:
        leadership.close()


def test_another_process_takes_over_when_the_leaders_lock_connection_dies(
    make_marid: Callable[..., Marid], settings: Settings
) -> None:
    first = make_marid()
    leading = first.read_models.runners.values()
    assert eventually(lambda: all(runner.is_leader for runner in leading))
    second = make_marid()
    following = second.read_models.runners.values()
    for runner in leading:  # it competes again only after the second took over
        runner.retry_interval = 60
    recordings: list[Recording[UUID]] = []
    half_written = threading.Event()

    def write() -> None:
        for n in range(USERS):
            app = (first if n % 2 else second).app
            recordings.extend(
                app.register_user(f"user{n}", f"user{n}@example.com", ORIGIN).recordings
            )
            if n == USERS // 3:
                half_written.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert half_written.wait(30)
    terminate(str(settings.database_url), first.leadership.pid())
    killed = time.monotonic()
    assert eventually(lambda: not any(runner.is_leader for runner in leading), timeout=5)
    assert time.monotonic() - killed < 5
    assert eventually(lambda: all(runner.is_leader for runner in following), timeout=10)
    writer.join(60)
    assert not writer.is_alive()
    assert second.read_models.wait_for(recordings, timeout=30)
    assert not any(runner.is_leader for runner in leading)
    assert len(second.projections["users"].view.rows("users")) == USERS
    assert all_rows(second) == replayed_rows(second)


class Counts(View):
    """Counts how often each notification was applied."""

    projection_name = "leadership_counts"
    tables: ClassVar[dict[str, str]] = {
        "leadership_counts": "(n bigint PRIMARY KEY, times int NOT NULL)"
    }

    def count(self, tracking: Tracking) -> None:
        self.write(tracking, lambda curs: curs.execute(COUNT, (tracking.notification_id,)))


COUNT = (
    "INSERT INTO leadership_counts VALUES (%s, 1) "
    "ON CONFLICT (n) DO UPDATE SET times = leadership_counts.times + 1"
)


@pytest.fixture
def counts(datastore: PostgresDatastore) -> Iterator[Counts]:
    view = Counts(datastore)
    view.create_table()
    yield view
    with datastore.transaction(commit=True) as curs:
        curs.execute("DROP TABLE leadership_counts, leadership_counts_tracking")


def apply_batch(view: Counts, first: int, last: int, hold: Any = None) -> None:
    with view.batch(Tracking(APP, last)):
        for n in range(first, last + 1):
            view.count(Tracking(APP, n))
        if hold is not None:
            hold()


def test_a_lost_leader_still_applying_a_batch_and_the_new_leader_apply_each_event_once(
    counts: Counts,
) -> None:
    """The old leader applies 101..150 in a transaction that is still open when the new
    leader (which read the tracking record before it committed) applies 101..200."""
    apply_batch(counts, 1, 100)
    inside, finish = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        finish.wait(10)

    old = threading.Thread(target=apply_batch, args=(counts, 101, 150, hold))
    old.start()
    assert inside.wait(10)
    new = threading.Thread(target=apply_batch, args=(counts, 101, 200))
    new.start()
    time.sleep(0.5)  # the new leader has read the tracking record, or waits to
    finish.set()
    old.join(10)
    new.join(10)
    rows = counts.rows("leadership_counts", order_by="n")
    assert [row["n"] for row in rows] == list(range(1, 201))
    assert {row["times"] for row in rows} == {1}
    assert counts.max_tracking_id(APP) == 200
