"""Snapshots on PostgreSQL, wired as a marid process wires them (`migrate` makes the table).

The unit tests (tests/unit/test_snapshots.py) hold the rules on the in-memory store; this
holds that snapshots are stored and read back through PostgreSQL to the same state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import IntegrityError

from domain.builds import Build, BuildCounter
from domain.crons import Cron
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import TEST_ORIGIN, wired
from tests.unit.test_cron_cases import DRIVERS, MANIFEST, START, Clock, NoInputs


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def instance(settings: Settings, clock: Clock) -> Iterator[Marid]:
    marid = wired(settings, clock=clock)
    yield marid
    marid.close()


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_cron_and_counter_load_from_their_snapshots_as_replayed(
    instance: Marid, clock: Clock
) -> None:
    app = instance.app
    intervals = app.snapshotting_intervals
    alice = app.register_user("alice", "alice@example.com", TEST_ORIGIN).value
    cron_id = app.create_cron(
        alice, "often", "* * * * *", None, MANIFEST, DRIVERS, TEST_ORIGIN
    ).value
    cron_uuid = Cron.create_id(cron_id)

    builds = []
    for _ in range(2 * max(intervals[Cron], intervals[BuildCounter]) + 3):
        due = app.get(cron_uuid, Cron, "cron").next_run
        clock.now = due
        builds.append(app.fire_due(cron_id, due, NoInputs(), DRIVERS).value)

    counter_uuid = BuildCounter.create_id(alice)
    for cls, aggregate_id in ((Cron, cron_uuid), (BuildCounter, counter_uuid)):
        assert snapshot_versions(instance, aggregate_id)[:2] == [intervals[cls], 2 * intervals[cls]]
        loaded = app.get(aggregate_id, cls, "aggregate")
        replayed = project_aggregate(None, app.events.get(aggregate_id))
        assert state(loaded) == state(replayed)
        assert {k: type(v) for k, v in state(loaded).items()} == {
            k: type(v) for k, v in state(replayed).items()
        }
    numbers = [app.get(Build.create_id(b), Build, "build").number for b in builds if b]
    assert numbers == list(range(1, len(builds) + 1))


def test_a_stale_counter_from_a_snapshot_cannot_take_a_taken_number(instance: Marid) -> None:
    app = instance.app
    interval = app.snapshotting_intervals[BuildCounter]
    counter = BuildCounter(owner_id=1, origin=TEST_ORIGIN)
    for _ in range(interval):  # Started is version 1: the last one is past the snapshot
        counter.next_number(TEST_ORIGIN)
    app.save(counter)
    assert snapshot_versions(instance, counter.id) == [interval]
    first = app.get(counter.id, BuildCounter, "counter")
    second = app.get(counter.id, BuildCounter, "counter")

    taken = first.next_number(TEST_ORIGIN), second.next_number(TEST_ORIGIN)
    app.save(first)

    assert taken[0] == taken[1]
    with pytest.raises(IntegrityError):
        app.save(second)


def snapshot_versions(instance: Marid, aggregate_id: UUID) -> list[int]:
    assert instance.app.snapshots is not None
    return [s.originator_version for s in instance.app.snapshots.get(aggregate_id)]
