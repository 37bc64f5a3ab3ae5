"""Claiming and running builds on the in-memory store: leases, orphans, lost claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.app import MaridApplication
from domain.builds import Build, LostClaim
from domain.errors import DomainError, NotFoundError
from domain.origin import Origin
from infrastructure.cipher import AesGcmBox
from tests.unit.conftest import ORIGIN, POPO, register
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


@pytest.fixture
def app(clock: Clock) -> MaridApplication:
    return MaridApplication(POPO, clock=clock, secrets=AesGcmBox(b"k" * 32))


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
