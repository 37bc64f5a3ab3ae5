"""The Build aggregate's state machine, tags, and the job plan of a manifest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.build_plan import plan
from domain.builds import (
    FINISHED,
    STATUSES,
    Build,
    BuildCounter,
    BuildStatus,
    LostClaim,
    NotClaimable,
    valid_tag,
)
from domain.errors import NotFoundError
from domain.manifest import Manifest
from domain.origin import Origin

ORIGIN = Origin.system("test")
MANIFEST = """
driver: {type: os}
sources:
- https://example.com/a.git main => src
- https://example.com/b
stages: [test, deploy]
allow_failures: [deploy]
jobs:
- stage: test
  commands: [make test]
  artifacts: [out/report.xml => report]
- stage: deploy
  name: Ship It
  commands: [./ship]
"""


def build(**changes: Any) -> Build:
    manifest = Manifest.parse(MANIFEST)
    stages, jobs = plan(manifest, 7)
    for i, job in enumerate(jobs, start=1):
        job["id"] = i
    fields: dict[str, Any] = {
        "public_id": 1,
        "number": 7,
        "owner_id": 1,
        "namespace_id": None,
        "submitter_id": 1,
        "manifest": MANIFEST,
        "driver": dict(manifest.driver),
        "trigger": {"type": "manual", "comment": "", "data": {}},
        "stages": stages,
        "jobs": jobs,
        "variables": [],
        "keys": [],
        "objects": [],
        "tags": [],
        "origin": ORIGIN,
    }
    fields.update(changes)
    return Build(**fields)


def test_plan_puts_the_setup_stage_with_driver_and_clones_first() -> None:
    stages, jobs = plan(Manifest.parse(MANIFEST), 7)

    assert stages == [
        {"name": "setup - #7", "can_fail": False},
        {"name": "test", "can_fail": False},
        {"name": "deploy", "can_fail": True},
    ]
    assert [(j["stage"], j["name"]) for j in jobs] == [
        ("setup - #7", "create-driver"),
        ("setup - #7", "clone.0"),
        ("setup - #7", "clone.1"),
        ("test", "test.1"),
        ("deploy", "ship-it"),
    ]
    assert jobs[0]["commands"] == []
    assert jobs[1]["commands"] == [
        "mkdir -p src",
        "git clone -q https://example.com/a.git src",
        "cd src",
        "git checkout -q main",
    ]
    assert "git checkout" not in " ".join(jobs[2]["commands"])
    assert jobs[3]["artifacts"] == [{"source": "out/report.xml", "name": "report"}]


def test_a_new_build_is_queued_with_queued_jobs() -> None:
    new = build()

    assert new.status == "queued"
    assert set(new.job_statuses.values()) == {"queued"}


def test_killing_a_queued_build_kills_it_and_every_job() -> None:
    new = build()

    new.kill(ORIGIN)

    assert new.status == "killed"
    assert set(new.job_statuses.values()) == {"killed"}


def test_killing_a_running_build_records_the_request_once() -> None:
    running = build()
    running.status = "running"  # workers come with the workers issue
    running.collect_events()

    running.kill(ORIGIN)
    running.kill(ORIGIN)

    assert running.kill_requested
    assert [type(e).__name__ for e in running.collect_events()] == ["KillRequested"]


@pytest.mark.parametrize("status", ["passed", "failed", "killed", "timed_out"])
def test_killing_a_finished_build_changes_nothing(status: str) -> None:
    finished = build()
    finished.status = status
    finished.collect_events()

    finished.kill(ORIGIN)

    assert finished.collect_events() == []
    assert finished.status == status


def test_tagging_skips_invalid_repeated_and_existing_names() -> None:
    tagged = build(tags=[{"id": 1, "name": "old", "user_id": 1}])

    added = tagged.tag(
        [(2, "new"), (3, "new"), (4, "old"), (5, "bad tag"), (6, "v1.0/x_y-z")], 2, ORIGIN
    )

    assert added == ["new", "v1.0/x_y-z"]
    assert tagged.tags == {"old", "new", "v1.0/x_y-z"}


def test_tagging_with_nothing_new_records_no_event() -> None:
    tagged = build(tags=[{"id": 1, "name": "old", "user_id": 1}])
    tagged.collect_events()

    assert tagged.tag([(2, "old")], 1, ORIGIN) == []
    assert tagged.collect_events() == []


def test_removing_a_missing_tag_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        build().untag("nope", ORIGIN)


def test_pin_and_unpin_are_idempotent() -> None:
    pinned = build()
    pinned.collect_events()

    pinned.pin(ORIGIN)
    pinned.pin(ORIGIN)
    pinned.unpin(ORIGIN)
    pinned.unpin(ORIGIN)

    assert [type(e).__name__ for e in pinned.collect_events()] == ["Pinned", "Unpinned"]


def test_the_counter_hands_out_consecutive_numbers() -> None:
    counter = BuildCounter(owner_id=1, origin=ORIGIN)

    assert [counter.next_number(ORIGIN) for _ in range(3)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("v1.0", True),
        ("feature/x", True),
        ("ünï", True),
        ("a b", False),
        ("", False),
        ("x" * 256, False),
    ],
)
def test_tag_names(name: str, ok: bool) -> None:
    assert valid_tag(name) is ok


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def claimed(lease: timedelta = LEASE) -> Build:
    running = build()
    running.take("w1", "c1", NOW + lease, NOW, None, None, 1, ORIGIN)
    return running


def test_statuses_are_the_strings_events_and_sql_hold() -> None:
    assert [str(status) for status in STATUSES] == [
        "queued",
        "running",
        "passed",
        "passed_with_failures",
        "failed",
        "killed",
        "timed_out",
    ]
    assert BuildStatus.TIMED_OUT == "timed_out"
    assert set(FINISHED) == set(STATUSES[2:])
    assert f"'{BuildStatus.PASSED_WITH_FAILURES}'" == "'passed_with_failures'"


def test_a_finished_build_records_its_status_as_text_and_holds_it_as_a_status() -> None:
    running = claimed()
    running.collect_events()

    running.finish("c1", "failed", ORIGIN)

    (finished,) = running.collect_events()
    assert type(finished.status) is str  # type: ignore[attr-defined]
    assert running.status is BuildStatus.FAILED
    assert set(running.job_statuses.values()) == {BuildStatus.FAILED}


def test_a_lease_runs_out_at_the_later_of_the_claimed_lease_and_the_heartbeat() -> None:
    running = claimed()
    later = NOW + LEASE + timedelta(seconds=1)

    assert not running.lease_expired(NOW + LEASE, None)
    assert running.lease_expired(later, None)
    assert not running.lease_expired(later, NOW + LEASE * 2)
    assert running.lease_expired(later, NOW)  # an older heartbeat does not shorten it
    assert running.claimable(later, None)
    assert not running.claimable(later, later)
    assert not build().lease_expired(later, None)  # queued: no lease to run out
    assert build().claimable(later, None)


def test_a_live_heartbeat_keeps_a_build_from_being_taken_over() -> None:
    running = claimed()
    later = NOW + LEASE * 2

    with pytest.raises(NotClaimable):
        running.take("w2", "c2", later + LEASE, later, later, None, 1, ORIGIN)

    assert (running.claim, running.tags) == ("c1", set())


def test_an_expired_lease_and_heartbeat_let_another_worker_take_the_build_over() -> None:
    running = claimed()
    later = NOW + LEASE * 2

    orphaned = running.take("w2", "c2", later + LEASE, later, NOW + LEASE, 9, 1, ORIGIN)

    assert orphaned
    assert (running.claim, running.worker, running.lease_until) == ("c2", "w2", later + LEASE)
    assert "orphaned" in running.tags


def test_the_claim_no_longer_held_is_refused() -> None:
    running = claimed()
    running.check_claim("c1")

    with pytest.raises(LostClaim):
        running.check_claim("c2")
    running.finish("c1", "passed", ORIGIN)
    with pytest.raises(LostClaim):
        running.check_claim("c1")


def test_builds_that_recorded_lease_renewals_still_load() -> None:
    running = claimed()
    running._lease_renewed(claim="c1", lease_until=NOW + LEASE * 9, origin=ORIGIN)
    events = running.collect_events()

    replayed: Build | None = None
    for stored in events:
        replayed = stored.mutate(replayed)  # type: ignore[arg-type]

    assert type(events[-1]).__name__ == "LeaseRenewed"
    assert replayed is not None
    assert replayed.lease_until == NOW + LEASE * 9
    assert not replayed.lease_expired(NOW + LEASE * 5, None)
