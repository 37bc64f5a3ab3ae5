"""Snapshots of the aggregates with long histories, on the in-memory store.

Loading an aggregate reads its latest snapshot and the events after it; these tests hold
that this gives the state a replay of every event gives (attribute for attribute, types
included: the state goes through the application's transcoder), and that the commands
behave the same afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from application.app import MaridApplication
from domain.builds import Build, BuildCounter
from domain.crons import Cron
from tests.unit.conftest import ORIGIN, POPO, register
from tests.unit.test_cron_cases import DRIVERS, MANIFEST, START, Clock, NoInputs

EVERY_MINUTE = "* * * * *"
TWO_JOBS = (
    "driver: {type: os}\nstages: [test]\njobs:\n"
    "- {stage: test, commands: [true]}\n- {stage: test, commands: [true]}\n"
)
INTERVALS = MaridApplication.snapshotting_intervals

# The attributes each snapshotted class keeps, for its class_version: a snapshot holds
# them, so changing them needs a new class_version and an upcaster (see application/app.py).
SHAPES: dict[type[Aggregate], tuple[int, set[str]]] = {
    Build: (
        1,
        {
            "_created_on",
            "_modified_on",
            "public_id",
            "number",
            "owner_id",
            "namespace_id",
            "driver",
            "stages",
            "jobs",
            "variables",
            "keys",
            "objects",
            "status",
            "job_statuses",
            "tags",
            "pinned",
            "kill_requested",
            "worker",
            "claim",
            "lease_until",
        },
    ),
    BuildCounter: (1, {"_created_on", "_modified_on", "owner_id", "last"}),
    Cron: (
        1,
        {
            "_created_on",
            "_modified_on",
            "public_id",
            "owner_id",
            "author_id",
            "namespace_id",
            "deleted",
            "name",
            "schedule",
            "timezone",
            "manifest",
            "next_run",
            "prev_run",
            "last_error",
        },
    ),
}


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def app(clock: Clock) -> MaridApplication:
    return MaridApplication(POPO, clock=clock)


def state(aggregate: Aggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def types(aggregate: Aggregate) -> dict[str, type]:
    return {k: type(v) for k, v in state(aggregate).items()}


def replayed(app: MaridApplication, aggregate_id: UUID) -> Aggregate:
    """The aggregate from every one of its events, no snapshot."""
    aggregate: Aggregate | None = project_aggregate(None, app.events.get(aggregate_id))
    assert aggregate is not None
    return aggregate


def snapshot_versions(app: MaridApplication, aggregate_id: UUID) -> list[int]:
    assert app.snapshots is not None
    return [s.originator_version for s in app.snapshots.get(aggregate_id)]


def assert_loads_as_replayed(app: MaridApplication, aggregate_id: UUID) -> Aggregate:
    loaded: Aggregate = app.repository.get(aggregate_id)
    everything = replayed(app, aggregate_id)
    assert state(loaded) == state(everything)
    assert types(loaded) == types(everything)
    return loaded


def cron_fired(app: MaridApplication, clock: Clock, times: int) -> tuple[int, list[int]]:
    """A new per-minute cron of a new user, fired `times` times; its id and its builds."""
    alice = register(app, "alice")
    cron_id = app.create_cron(alice, "often", EVERY_MINUTE, None, MANIFEST, DRIVERS, ORIGIN).value
    builds = list(fire(app, clock, cron_id, times))
    return cron_id, builds


def fire(app: MaridApplication, clock: Clock, cron_id: int, times: int) -> Iterator[int]:
    for _ in range(times):
        due = cron(app, cron_id).next_run
        clock.now = due
        build_id = app.fire_due(cron_id, due, NoInputs(), DRIVERS).value
        assert build_id is not None
        yield build_id


def cron(app: MaridApplication, cron_id: int) -> Cron:
    found = app.load(Cron.create_id(cron_id), Cron)
    assert found is not None
    return found


def number(app: MaridApplication, build_id: int) -> int:
    build = app.load(Build.create_id(build_id), Build)
    assert build is not None
    return build.number


def test_every_snapshotted_class_has_its_state_shape_pinned() -> None:
    assert set(INTERVALS) == set(SHAPES)


@pytest.mark.parametrize("cls", list(SHAPES), ids=lambda cls: cls.__name__)
def test_snapshotted_state_keeps_its_pinned_shape(
    app: MaridApplication, clock: Clock, cls: type[Aggregate]
) -> None:
    cron_id, _ = cron_fired(app, clock, 1)
    samples = {
        Cron: cron(app, cron_id),
        BuildCounter: counter(app, cron(app, cron_id).owner_id),
        Build: app.repository.get(Build.create_id(running_build(app, "bob"))),
    }

    version, attributes = SHAPES[cls]

    assert getattr(cls, "class_version", 1) == version
    assert set(state(samples[cls])) - {"_id", "_version"} == attributes


def counter(app: MaridApplication, owner_id: int) -> BuildCounter:
    found = app.load(BuildCounter.create_id(owner_id), BuildCounter)
    assert found is not None
    return found


def test_a_snapshot_taken_now_loads_every_attribute_as_replayed(
    app: MaridApplication, clock: Clock
) -> None:
    cron_id, _ = cron_fired(app, clock, 2)
    failing = cron(app, cron_id)
    failing.failed(failing.next_run, failing.next_run, "no such driver", ORIGIN)
    app.save(failing)  # every optional attribute now has a value
    ids = [Cron.create_id(cron_id), BuildCounter.create_id(failing.owner_id)]

    for aggregate_id in ids:
        app.take_snapshot(aggregate_id)

    for aggregate_id in ids:
        assert snapshot_versions(app, aggregate_id) == [app.repository.get(aggregate_id).version]
        assert_loads_as_replayed(app, aggregate_id)


def test_a_cron_is_snapshotted_every_interval_and_loads_as_replayed(
    app: MaridApplication, clock: Clock
) -> None:
    interval = INTERVALS[Cron]

    cron_id, _ = cron_fired(app, clock, 2 * interval + 5)  # Created is version 1

    aggregate_id = Cron.create_id(cron_id)
    assert snapshot_versions(app, aggregate_id) == [interval, 2 * interval]
    loaded = assert_loads_as_replayed(app, aggregate_id)
    assert loaded.version == 2 * interval + 6


def test_a_cron_fired_past_its_snapshots_still_fires_each_due_time_once(
    app: MaridApplication, clock: Clock
) -> None:
    cron_id, builds = cron_fired(app, clock, INTERVALS[Cron] + 1)
    due = cron(app, cron_id).next_run
    clock.now = due + timedelta(seconds=5)

    first = app.fire_due(cron_id, due, NoInputs(), DRIVERS).value
    again = app.fire_due(cron_id, due, NoInputs(), DRIVERS).value

    assert first is not None
    assert again is None
    fired = cron(app, cron_id)
    assert (fired.prev_run, fired.next_run) == (clock.now, due + timedelta(minutes=1))
    assert [number(app, b) for b in [*builds, first]] == list(range(1, len(builds) + 2))


def test_build_numbers_stay_gap_free_across_counter_snapshots(
    app: MaridApplication, clock: Clock
) -> None:
    interval = INTERVALS[BuildCounter]
    alice = register(app, "alice")
    count = 2 * interval + 3

    builds = [
        app.submit_build(alice, MANIFEST, None, None, DRIVERS, NoInputs(), ORIGIN).value
        for _ in range(count)
    ]

    assert [number(app, b) for b in builds] == list(range(1, count + 1))
    counter_id = BuildCounter.create_id(alice)
    assert snapshot_versions(app, counter_id) == [interval, 2 * interval]
    loaded = assert_loads_as_replayed(app, counter_id)
    assert isinstance(loaded, BuildCounter)
    assert loaded.last == count


def test_a_counter_loaded_from_a_snapshot_still_refuses_a_stale_copy(
    app: MaridApplication,
) -> None:
    alice = register(app, "alice")
    for _ in range(INTERVALS[BuildCounter]):
        app.submit_build(alice, MANIFEST, None, None, DRIVERS, NoInputs(), ORIGIN)
    first, second = counter(app, alice), counter(app, alice)

    taken = first.next_number(ORIGIN), second.next_number(ORIGIN)
    app.save(first)

    assert taken[0] == taken[1]
    with pytest.raises(IntegrityError):
        app.save(second)
    assert counter(app, alice).last == taken[0]


def running_build(app: MaridApplication, username: str = "alice") -> int:
    """A tagged build of a new user, claimed, its first job passed and the next running."""
    alice = register(app, username)
    build_id = app.submit_build(
        alice, TWO_JOBS, None, ["a", "b"], DRIVERS, NoInputs(), ORIGIN
    ).value
    plan = app.claim_build(build_id, "w1", timedelta(minutes=5), ORIGIN).value
    assert plan is not None
    first, second = [job.id for job in plan.jobs][:2]
    app.start_job(build_id, plan.claim, first, ORIGIN)
    app.finish_job(build_id, plan.claim, first, "passed", ORIGIN)
    app.start_job(build_id, plan.claim, second, ORIGIN)
    app.tag_build(build_id, alice, ["c"], ORIGIN)
    return build_id


def test_a_build_snapshot_loads_as_replayed(app: MaridApplication) -> None:
    build_id = running_build(app)
    aggregate_id = Build.create_id(build_id)

    app.take_snapshot(aggregate_id)

    loaded = assert_loads_as_replayed(app, aggregate_id)
    assert isinstance(loaded, Build)
    assert loaded.tags == {"a", "b", "c"}
    assert all(isinstance(k, int) for k in loaded.job_statuses)


def test_a_build_loaded_from_a_snapshot_runs_on(app: MaridApplication) -> None:
    build_id = running_build(app)
    app.take_snapshot(Build.create_id(build_id))
    build = app.repository.get(Build.create_id(build_id))
    second = max(build.job_statuses)

    app.finish_job(build_id, build.claim, second, "passed", ORIGIN)
    app.untag_build(build_id, build.owner_id, "a", ORIGIN)

    assert_loads_as_replayed(app, Build.create_id(build_id))
