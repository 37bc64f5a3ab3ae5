"""Claiming and running builds on the in-memory store: leases, orphans, lost claims, and
workers racing for a build (made deterministic by running a competitor at a chosen step)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from application.app import MaridApplication
from application.execution import RunPlan
from application.leases import InMemoryLeases
from domain.builds import Build, LostClaim
from domain.errors import DomainError, NotFoundError
from domain.origin import Origin
from infrastructure.cipher import AesGcmBox
from tests.unit.conftest import ORIGIN, POPO, RacingApp, event_count, register
from tests.unit.test_build_cases import FakeInputs

WORKER = Origin.system("worker:w1")
LEASE = timedelta(seconds=30)
MANIFEST = """
driver: {type: os}
env: [PLAIN=1]
stages: [test, lint]
allow_failures: [lint]
jobs:
- stage: test
  commands: [make test]
  artifacts: [out/report.xml => report]
- stage: lint
  commands: [make lint]
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


class RacingLeases(InMemoryLeases):
    """Runs a competitor just before the next `acquire` or `renew`: what another worker does
    between a command's decision (on what it loaded) and its lease operation."""

    def __init__(self) -> None:
        super().__init__()
        self.before: dict[str, Callable[[], object]] = {}

    def _race(self, operation: str) -> None:
        competitor = self.before.pop(operation, None)
        if competitor is not None:
            competitor()

    def acquire(self, build_id: int, claim: str, until: datetime, now: datetime) -> bool:
        self._race("acquire")
        return super().acquire(build_id, claim, until, now)

    def renew(self, build_id: int, claim: str, until: datetime) -> bool:
        self._race("renew")
        return super().renew(build_id, claim, until)


@pytest.fixture
def leases() -> RacingLeases:
    return RacingLeases()


@pytest.fixture
def app(clock: Clock, leases: RacingLeases) -> MaridApplication:
    app = MaridApplication(POPO, clock=clock, secrets=AesGcmBox(b"k" * 32))
    app.leases = leases
    return app


def submit(app: MaridApplication, inputs: FakeInputs | None = None) -> int:
    owner = register(app, "alice")
    return app.submit_build(
        owner, MANIFEST, None, None, ["os"], inputs or FakeInputs(), ORIGIN
    ).value


def build(app: MaridApplication, build_id: int) -> Build:
    loaded = app.load(Build.create_id(build_id), Build)
    assert loaded is not None
    return loaded


def test_claim_gives_the_plan_and_starts_the_build(app: MaridApplication) -> None:
    build_id = submit(app)
    plan = app.claim_build(build_id, "w1", LEASE, WORKER).value
    assert plan is not None
    assert plan.build_id == build_id
    assert not plan.orphaned
    assert not plan.kill_requested
    assert [job.name for job in plan.jobs] == ["create-driver", "test.1", "lint.1"]
    assert plan.stages[0]["name"] == "setup - #1"
    assert plan.stages[2] == {"name": "lint", "can_fail": True}
    assert plan.jobs[1].artifacts[0]["source"] == "out/report.xml"
    assert ("PLAIN", "1", False) in plan.variables
    assert build(app, build_id).status == "running"


def test_a_second_claim_is_refused_while_the_lease_lives(
    app: MaridApplication, clock: Clock
) -> None:
    build_id = submit(app)
    assert app.claim_build(build_id, "w1", LEASE, WORKER).value is not None
    clock.now += LEASE - timedelta(seconds=1)
    assert app.claim_build(build_id, "w2", LEASE, WORKER).value is None


def test_unknown_builds_are_not_claimable(app: MaridApplication) -> None:
    assert app.claim_build(999, "w1", LEASE, WORKER).value is None


def test_an_expired_lease_orphans_and_reclaims_the_build(
    app: MaridApplication, clock: Clock
) -> None:
    build_id = submit(app)
    first = app.claim_build(build_id, "w1", LEASE, WORKER).value
    assert first is not None
    app.start_job(build_id, first.claim, first.jobs[0].id, WORKER)
    clock.now += LEASE + timedelta(seconds=1)
    second = app.claim_build(build_id, "w2", LEASE, WORKER).value
    assert second is not None
    assert second.orphaned
    assert second.claim != first.claim
    reclaimed = build(app, build_id)
    assert reclaimed.status == "running"
    assert "orphaned" in reclaimed.tags
    assert set(reclaimed.job_statuses.values()) == {"queued"}
    # The first holder has lost the build: every command it tries is refused.
    with pytest.raises(LostClaim):
        app.renew_lease(build_id, first.claim, LEASE, WORKER)
    with pytest.raises(LostClaim):
        app.finish_build(build_id, first.claim, "passed", WORKER)
    # Orphaned twice: the tag is not added again.
    clock.now += LEASE + timedelta(seconds=1)
    third = app.claim_build(build_id, "w3", LEASE, WORKER).value
    assert third is not None
    assert third.orphaned


def test_renewing_extends_the_lease_and_reports_kills(app: MaridApplication, clock: Clock) -> None:
    build_id = submit(app)
    plan = app.claim_build(build_id, "w1", LEASE, WORKER).value
    assert plan is not None
    clock.now += timedelta(seconds=20)
    assert app.renew_lease(build_id, plan.claim, LEASE, WORKER).value is False
    clock.now += timedelta(seconds=20)
    assert app.claim_build(build_id, "w2", LEASE, WORKER).value is None
    owner = build(app, build_id).owner_id
    app.kill_build(build_id, owner, ORIGIN)
    assert app.renew_lease(build_id, plan.claim, LEASE, WORKER).value is True


def test_jobs_run_and_the_build_finishes(app: MaridApplication) -> None:
    build_id = submit(app)
    plan = app.claim_build(build_id, "w1", LEASE, WORKER).value
    assert plan is not None
    setup, test, lint = plan.jobs
    app.start_job(build_id, plan.claim, setup.id, WORKER)
    app.finish_job(build_id, plan.claim, setup.id, "passed", WORKER)
    app.start_job(build_id, plan.claim, test.id, WORKER)
    app.finish_job(build_id, plan.claim, test.id, "failed", WORKER)
    app.record_artifact(build_id, plan.claim, test.artifacts[0]["id"], None, None, None, WORKER)
    app.finish_build(build_id, plan.claim, "failed", WORKER)
    done = build(app, build_id)
    assert done.status == "failed"
    # The job that never ran takes the build's status.
    assert done.job_statuses == {setup.id: "passed", test.id: "failed", lint.id: "failed"}
    with pytest.raises(LostClaim):
        app.start_job(build_id, plan.claim, lint.id, WORKER)


def test_job_commands_check_their_job(app: MaridApplication) -> None:
    build_id = submit(app)
    plan = app.claim_build(build_id, "w1", LEASE, WORKER).value
    assert plan is not None
    job = plan.jobs[0]
    with pytest.raises(NotFoundError):
        app.start_job(build_id, plan.claim, 424242, WORKER)
    with pytest.raises(NotFoundError):
        app.record_artifact(build_id, plan.claim, 424242, 1, "m", "s", WORKER)
    app.start_job(build_id, plan.claim, job.id, WORKER)
    with pytest.raises(DomainError):
        app.start_job(build_id, plan.claim, job.id, WORKER)
    with pytest.raises(ValueError, match="not a final status"):
        app.finish_job(build_id, plan.claim, job.id, "running", WORKER)
    app.finish_job(build_id, plan.claim, job.id, "passed", WORKER)
    with pytest.raises(DomainError):
        app.finish_job(build_id, plan.claim, job.id, "failed", WORKER)
    with pytest.raises(ValueError, match="not a final status"):
        app.finish_build(build_id, plan.claim, "queued", WORKER)


def test_killed_queued_builds_and_finished_builds_are_not_claimable(
    app: MaridApplication,
) -> None:
    build_id = submit(app)
    app.kill_build(build_id, build(app, build_id).owner_id, ORIGIN)
    assert app.claim_build(build_id, "w1", LEASE, WORKER).value is None


def test_a_kill_requested_before_a_reclaim_reaches_the_new_holder(
    app: MaridApplication, clock: Clock
) -> None:
    build_id = submit(app)
    first = app.claim_build(build_id, "w1", LEASE, WORKER).value
    assert first is not None
    app.kill_build(build_id, build(app, build_id).owner_id, ORIGIN)
    clock.now += LEASE * 2
    second = app.claim_build(build_id, "w2", LEASE, WORKER).value
    assert second is not None
    assert second.kill_requested
    app.finish_build(build_id, second.claim, "killed", WORKER)
    assert set(build(app, build_id).job_statuses.values()) == {"killed"}


def test_masked_values_are_opened_for_the_worker(app: MaridApplication) -> None:
    owner = register(app, "alice")
    inputs = FakeInputs()
    sealed = app.secrets.seal("hunter2")
    inputs.add("variables", owner, None, variable_id=1, key="PLAIN", value="x", masked=False)
    inputs.add("variables", owner, None, variable_id=2, key="TOKEN", value=sealed, masked=True)
    build_id = app.submit_build(owner, MANIFEST, None, None, ["os"], inputs, ORIGIN).value
    plan = app.claim_build(build_id, "w1", LEASE, WORKER).value
    assert plan is not None
    assert plan.masked_values == ["hunter2"]
    assert ("TOKEN", "hunter2", True) in plan.variables


# --- lease renewals: heartbeats outside the event log ---------------------------------------


def claimed(app: MaridApplication, build_id: int, worker: str, lease: timedelta = LEASE) -> RunPlan:
    plan = app.claim_build(build_id, worker, lease, Origin.system(f"worker:{worker}")).value
    assert plan is not None
    return plan


def test_a_renewal_moves_the_heartbeat_and_records_no_event(
    app: MaridApplication, clock: Clock
) -> None:
    build_id = submit(app)
    plan = claimed(app, build_id, "w1")
    events = event_count(app)
    clock.now += timedelta(seconds=20)

    outcome = app.renew_lease(build_id, plan.claim, LEASE, WORKER)

    assert (outcome.value, outcome.recordings) == (False, [])
    assert event_count(app) == events
    assert app.leases.expiry(build_id, plan.claim) == clock.now + LEASE
    assert build(app, build_id).lease_until == clock.now - timedelta(seconds=20) + LEASE


def test_the_claims_own_lease_holds_until_the_first_renewal(
    app: MaridApplication, clock: Clock
) -> None:
    build_id = submit(app)
    claimed(app, build_id, "w1")
    clock.now += LEASE

    assert app.claim_build(build_id, "w2", LEASE, WORKER).value is None
    clock.now += timedelta(seconds=1)
    assert app.claim_build(build_id, "w2", LEASE, WORKER).value is not None


def test_finishing_a_build_releases_its_lease(app: MaridApplication) -> None:
    build_id = submit(app)
    plan = claimed(app, build_id, "w1")

    app.finish_build(build_id, plan.claim, "passed", WORKER)

    assert app.leases.expiry(build_id, plan.claim) is None


def test_of_two_workers_racing_for_an_expired_build_only_the_first_lease_taker_runs_it(
    app: MaridApplication, clock: Clock, leases: RacingLeases
) -> None:
    build_id = submit(app)
    claimed(app, build_id, "w1")
    clock.now += LEASE * 2
    rival: list[RunPlan | None] = []
    # w3 claims between w2's decision (the lease expired) and w2 taking the lease over.
    leases.before["acquire"] = lambda: rival.append(claimed(app, build_id, "w3"))

    mine = app.claim_build(build_id, "w2", LEASE, WORKER).value

    assert mine is None
    (winner,) = rival
    assert winner is not None
    assert winner.orphaned
    assert build(app, build_id).claim == winner.claim
    assert build(app, build_id).worker == "w3"


def test_a_worker_that_took_the_lease_over_wins_the_claim_even_if_another_saves_first(
    racing: RacingApp,
) -> None:
    build_id = submit(racing)
    expired = timedelta(seconds=-1)  # its holder died: the lease has run out already
    first = racing.claim_build(build_id, "w1", expired, WORKER).value
    assert first is not None
    rival: list[RunPlan | None] = []
    # w3 claims between w2 taking the lease over and w2 saving its claim.
    racing.competitors.append(
        lambda: rival.append(racing.claim_build(build_id, "w3", LEASE, WORKER).value)
    )

    mine = racing.claim_build(build_id, "w2", LEASE, WORKER).value

    assert rival == [None]
    assert mine is not None
    assert mine.orphaned
    assert build(racing, build_id).claim == mine.claim


def test_a_renewal_just_before_a_takeover_keeps_the_build(
    app: MaridApplication, clock: Clock, leases: RacingLeases
) -> None:
    build_id = submit(app)
    plan = claimed(app, build_id, "w1")
    clock.now += LEASE + timedelta(seconds=1)  # w1 is late, but renews before w2 takes over
    renewed: list[bool] = []
    leases.before["acquire"] = lambda: renewed.append(
        app.renew_lease(build_id, plan.claim, LEASE, WORKER).value
    )

    taken = app.claim_build(build_id, "w2", LEASE, WORKER).value

    assert taken is None
    assert renewed == [False]  # renewed, no kill requested
    assert build(app, build_id).claim == plan.claim


def test_a_renewal_just_after_a_takeover_is_refused(
    app: MaridApplication, clock: Clock, leases: RacingLeases
) -> None:
    build_id = submit(app)
    plan = claimed(app, build_id, "w1")
    clock.now += LEASE + timedelta(seconds=1)
    rival: list[RunPlan] = []
    # w2 takes the build over after w1's renewal found it held, before the heartbeat.
    leases.before["renew"] = lambda: rival.append(claimed(app, build_id, "w2"))

    with pytest.raises(LostClaim):
        app.renew_lease(build_id, plan.claim, LEASE, WORKER)

    assert build(app, build_id).claim == rival[0].claim


def test_a_heartbeat_is_refused_once_another_claim_holds_the_lease(
    app: MaridApplication, clock: Clock
) -> None:
    build_id = submit(app)
    plan = claimed(app, build_id, "w1")
    clock.now += LEASE + timedelta(seconds=1)
    # Another worker took the lease over and died before saving its claim.
    assert app.leases.acquire(build_id, "theirs", clock.now + LEASE, clock.now)

    with pytest.raises(LostClaim):
        app.renew_lease(build_id, plan.claim, LEASE, WORKER)
    assert app.claim_build(build_id, "w3", LEASE, WORKER).value is None  # their lease lives
    clock.now += LEASE * 2
    assert app.claim_build(build_id, "w3", LEASE, WORKER).value is not None
