"""Schedulers against one PostgreSQL database, with a controllable clock."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.scheduler import CronScheduler
from infrastructure.settings import Settings
from tests.conftest import wired
from tests.integration.test_cli import MARID, Cli

ORIGIN = Origin.system("test")
MANIFEST = "driver: {type: os}\nstages: [test]\njobs:\n- stage: test\n  commands: [true]\n"
START = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
WAIT = 15.0


class Clock:
    """A clock shared by every instance of a test; moved by the test only."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def set(self, now: datetime) -> None:
        with self.lock:
            self.now = now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def primary(settings: Settings, clock: Clock) -> Iterator[Marid]:
    """The instance that runs the projections (its own scheduler is driven by hand)."""
    instance = wired(settings, clock=clock)
    instance.start()
    yield instance
    instance.close()


@pytest.fixture
def other(settings: Settings, clock: Clock, primary: Marid) -> Iterator[Marid]:
    """A second process's scheduler: another application on the same database."""
    instance = wired(settings, clock=clock)
    yield instance
    instance.close()


def make_cron(marid: Marid, name: str = "nightly", schedule: str = "daily") -> int:
    user = marid.app.register_user("alice", "alice@example.com", ORIGIN)
    marid.settle(user)
    outcome = marid.app.create_cron(
        user.value, name, schedule, "UTC", MANIFEST, ("os",), Origin.user(user.value)
    )
    return marid.settle(outcome)


def settle_all(marid: Marid) -> None:
    head = marid.app.recorder.max_notification_id() or 0
    for name in ("crons", "builds"):
        assert marid.read_models.wait_until(name, head, WAIT)


def fired(marid: Marid, cron_id: int) -> list[tuple[int, datetime]]:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT build_id, due FROM cron_builds WHERE cron_id = %s ORDER BY due", (cron_id,)
        )
        return [(row["build_id"], row["due"]) for row in curs.fetchall()]


def next_run(marid: Marid, cron_id: int) -> datetime:
    row = marid.crons.get(cron_id)
    assert row is not None
    value: datetime = row.fields["next_run"]
    return value


def together(*ticks: Callable[[], list[int]]) -> list[int]:
    """Run ticks at the same moment in threads; every build id they submitted."""
    barrier = threading.Barrier(len(ticks))

    def run(tick: Callable[[], list[int]]) -> list[int]:
        barrier.wait()
        return tick()

    with ThreadPoolExecutor(len(ticks)) as pool:
        return [b for result in pool.map(run, ticks) for b in result]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)  # polling a condition, with a deadline
    return condition()


def test_two_schedulers_fire_each_due_time_exactly_once(
    primary: Marid, other: Marid, clock: Clock
) -> None:
    cron_id = make_cron(primary)
    dues = []

    for _ in range(3):
        due = next_run(primary, cron_id)
        dues.append(due)
        clock.set(due + timedelta(seconds=1))
        builds = together(primary.scheduler.tick, other.scheduler.tick)
        builds += together(primary.scheduler.tick, other.scheduler.tick)  # stale read model
        assert len(builds) == 1
        settle_all(primary)

    assert [due for _, due in fired(primary, cron_id)] == dues
    assert dues == [datetime(2030, 1, d, tzinfo=UTC) for d in (11, 12, 13)]


def test_a_restarted_scheduler_fires_missed_runs_once(
    primary: Marid, settings: Settings, clock: Clock
) -> None:
    cron_id = make_cron(primary)
    clock.set(datetime(2030, 1, 16, 7, 30, tzinfo=UTC))  # five daily runs missed
    restarted = CronScheduler(
        primary.app, primary.crons, primary.build_inputs, settings.drivers, clock
    )

    first = restarted.tick()
    settle_all(primary)
    second = restarted.tick()

    assert len(first) == 1
    assert second == []
    assert [due for _, due in fired(primary, cron_id)] == [datetime(2030, 1, 11, tzinfo=UTC)]
    assert next_run(primary, cron_id) == datetime(2030, 1, 17, tzinfo=UTC)


def test_the_running_scheduler_picks_up_new_and_changed_crons(
    settings: Settings, clock: Clock
) -> None:
    marid = wired(replace(settings, run_scheduler=True), clock=clock)
    marid.start()
    try:
        cron_id = make_cron(marid, schedule="0 6 * * *")
        owner = marid.app.user_id_for("alice")
        assert owner is not None
        changed = marid.app.update_cron(
            cron_id, owner, None, "30 12 * * *", None, None, ("os",), ORIGIN
        )
        marid.settle(changed)
        clock.set(datetime(2030, 1, 10, 12, 30, 5, tzinfo=UTC))

        assert marid.scheduler.running
        assert wait_until(lambda: len(fired(marid, cron_id)) == 1)
        assert fired(marid, cron_id)[0][1] == datetime(2030, 1, 10, 12, 30, tzinfo=UTC)
    finally:
        marid.close()
    assert not marid.scheduler.running


def test_marid_scheduler_fires_a_missed_run_once_and_stops_on_sigterm(
    settings: Settings,
) -> None:
    past = Clock(datetime.now(UTC) - timedelta(days=3))
    marid = wired(settings, clock=past)
    marid.start()
    try:
        cron_id = make_cron(marid)
        missed = next_run(marid, cron_id)
        process = subprocess.Popen(
            [MARID, "scheduler"],
            env=Cli(settings).env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            assert "cron scheduler started" in process.stdout.readline()
            assert wait_until(lambda: len(fired(marid, cron_id)) == 1)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=WAIT)
        assert process.returncode == 0, stderr
        assert [due for _, due in fired(marid, cron_id)] == [missed]
        assert next_run(marid, cron_id) > datetime.now(UTC)
    finally:
        marid.close()
