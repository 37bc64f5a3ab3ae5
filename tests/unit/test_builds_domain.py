"""The Build aggregate's state machine, tags, and the job plan of a manifest."""

from __future__ import annotations

from typing import Any

import pytest

from domain.builds import Build, BuildCounter, plan, valid_tag
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
