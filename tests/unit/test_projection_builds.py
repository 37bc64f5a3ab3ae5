"""The builds projection on its in-memory view: a build's life, as rows and notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.builds import Build
from projections.build_tables import STATUS_CHANNEL, BuildsTables
from projections.builds import BuildsProjection
from projections.memory import MemoryView, in_memory
from tests.unit.projection_support import APP, ORIGIN, feed, namespace_deleted

NOW = datetime(2030, 3, 1, 12, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=5)
JOBS = [
    {"id": 11, "stage": "setup", "name": "create-driver", "commands": [], "artifacts": []},
    {
        "id": 12,
        "stage": "test",
        "name": "unit",
        "commands": ["make", "make test"],
        "artifacts": [
            {"id": 21, "source": "out/report.xml", "name": "report"},
            {"id": 22, "source": "out/missing", "name": "missing"},
        ],
    },
    {"id": 13, "stage": "deploy", "name": "ship", "commands": ["./ship"], "artifacts": []},
]


def submitted(namespace_id: int | None = None) -> Build:
    return Build(
        public_id=1,
        number=7,
        owner_id=2,
        namespace_id=namespace_id,
        submitter_id=3,
        manifest="driver: {type: os}",
        driver={"type": "os"},
        trigger={"type": "manual", "comment": "", "data": {}},
        stages=[{"name": s, "can_fail": False} for s in ("setup", "test", "deploy")],
        jobs=JOBS,
        variables=[{"id": 31, "variable_id": 4, "key": "K", "value": "sealed", "masked": True}],
        keys=[
            {
                "id": 41,
                "key_id": 5,
                "name": "deploy",
                "config": "",
                "key": "sealed",
                "location": "/root/.ssh/id_deploy",
            }
        ],
        objects=[{"id": 51, "object_id": 6, "name": "data", "destination": "data.bin"}],
        tags=[{"id": 61, "user_id": 3, "name": "nightly"}],
        origin=ORIGIN,
    )


class Run:
    """A build fed to a fresh in-memory builds read model, event by event."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.view: Any = in_memory(BuildsTables)
        self.projection = BuildsProjection(view=self.view)
        self.last = 0
        self.events: list[Any] = []
        self.step()

    def step(self) -> list[Any]:
        """Feed the build's new events; return them."""
        events = list(self.build.collect_events())
        self.last = feed(self.projection, events, first=self.last + 1)
        self.events += events
        return events

    def row(self) -> dict[str, Any]:
        [row] = self.view.rows("builds")
        return dict(row)

    def jobs(self, *columns: str) -> list[tuple[Any, ...]]:
        return [tuple(j[c] for c in columns) for j in self.view.rows("build_jobs", "position")]

    def claim(self) -> None:
        self.build.take("w1", "c1", LEASE, NOW, None, None, 3, ORIGIN)
        self.step()


def test_submitted_build_is_queued_with_its_jobs_artifacts_tags_and_snapshot() -> None:
    run = Run(submitted())
    at = run.build.created_on

    assert run.row() == {
        "id": 1,
        "aggregate_id": run.build.id,
        "user_id": 2,
        "namespace_id": None,
        "submitter_id": 3,
        "number": 7,
        "manifest": "driver: {type: os}",
        "driver": {"type": "os"},
        "trigger": {"type": "manual", "comment": "", "data": {}},
        "status": "queued",
        "pinned": False,
        "kill_requested": False,
        "created_at": at,
        "started_at": None,
        "finished_at": None,
        "worker": None,
        "lease_until": None,
    }
    assert run.view.rows("build_jobs") == [
        {
            "id": 11 + i,
            "build_id": 1,
            "position": i,
            "stage": stage,
            "name": name,
            "commands": commands,
            "status": "queued",
            "created_at": at,
            "started_at": None,
            "finished_at": None,
        }
        for i, (stage, name, commands) in enumerate(
            [
                ("setup", "create-driver", ""),
                ("test", "unit", "make\nmake test"),
                ("deploy", "ship", "./ship"),
            ]
        )
    ]
    assert [
        (a["id"], a["job_id"], a["user_id"], a["source"], a["name"])
        for a in run.view.rows("build_artifacts")
    ] == [
        (21, 12, 2, "out/report.xml", "report"),
        (22, 12, 2, "out/missing", "missing"),
    ]
    assert run.view.rows("build_tags") == [
        {"id": 61, "build_id": 1, "user_id": 3, "name": "nightly", "created_at": at}
    ]
    assert run.view.rows("build_variables") == [
        {"id": 31, "build_id": 1, "variable_id": 4, "key": "K", "value": "sealed", "masked": True}
    ]
    assert [(k["id"], k["build_id"], k["key"]) for k in run.view.rows("build_keys")] == [
        (41, 1, "sealed")
    ]
    assert run.view.rows("build_objects") == [
        {"id": 51, "build_id": 1, "object_id": 6, "name": "data", "destination": "data.bin"}
    ]
    assert run.view.notifications == []


def test_tags_pins_and_kill_requests_change_the_build() -> None:
    run = Run(submitted())
    run.build.tag([(62, "release"), (63, "v1")], 4, ORIGIN)
    run.build.untag("nightly", ORIGIN)
    run.build.pin(ORIGIN)
    run.step()
    pinned = run.row()["pinned"]
    run.claim()

    run.build.unpin(ORIGIN)
    run.build.kill(ORIGIN)  # running: only requested
    run.step()

    assert pinned is True
    assert [(t["id"], t["name"], t["user_id"]) for t in run.view.rows("build_tags")] == [
        (62, "release", 4),
        (63, "v1", 4),
    ]
    row = run.row()
    assert (row["pinned"], row["kill_requested"], row["status"]) == (False, True, "running")


def test_a_run_moves_the_build_and_its_jobs_and_notifies_each_change() -> None:
    run = Run(submitted())
    run.claim()
    claimed = run.row()
    b = run.build
    b.finish_job("c1", 11, "passed", ORIGIN)
    b.start_job("c1", 12, ORIGIN)
    b.collect_artifact("c1", 21, 10, "m", "s", ORIGIN)
    b.collect_artifact("c1", 22, None, None, None, ORIGIN)
    started = run.step()

    b.finish("c1", "failed", ORIGIN)
    [finished] = run.step()

    assert (claimed["status"], claimed["worker"], claimed["lease_until"]) == (
        "running",
        "w1",
        LEASE,
    )
    assert claimed["started_at"] == run.events[1].timestamp
    row = run.row()
    assert (row["status"], row["finished_at"], row["lease_until"]) == (
        "failed",
        finished.timestamp,
        None,
    )
    assert run.jobs("status", "started_at", "finished_at") == [
        ("passed", None, started[0].timestamp),
        ("failed", started[1].timestamp, finished.timestamp),
        ("failed", None, None),
    ]
    artifacts = run.view.rows("build_artifacts")
    assert [(a["size"], a["md5"], a["sha256"]) for a in artifacts] == [
        (10, "m", "s"),
        (None, None, None),
    ]
    assert [a["collected_at"] for a in artifacts] == [started[2].timestamp, None]
    assert run.view.notifications == [(STATUS_CHANNEL, "1")] * 3


def test_killed_queued_build_ends_every_job_killed() -> None:
    run = Run(submitted())
    run.build.kill(ORIGIN)

    [killed] = run.step()

    row = run.row()
    assert (row["status"], row["finished_at"]) == ("killed", killed.timestamp)
    assert run.jobs("status") == [("killed",)] * 3
    assert run.view.notifications == [(STATUS_CHANNEL, "1")]


def test_orphaned_build_starts_over_tagged_and_is_claimed_again() -> None:
    run = Run(submitted())
    run.claim()
    run.build.start_job("c1", 11, ORIGIN)
    run.build.collect_artifact("c1", 21, 10, "m", "s", ORIGIN)
    run.step()

    run.build.take(
        "w2", "c2", LEASE + timedelta(hours=1), LEASE + timedelta(seconds=1), None, 64, 3, ORIGIN
    )
    orphaned, claimed = run.step()

    assert isinstance(orphaned, Build.Orphaned)
    row = run.row()
    assert (row["status"], row["worker"], row["started_at"]) == ("running", "w2", claimed.timestamp)
    assert run.jobs("status", "started_at", "finished_at") == [("queued", None, None)] * 3
    assert [a["collected_at"] for a in run.view.rows("build_artifacts")] == [None, None]
    assert [(t["id"], t["name"], t["created_at"]) for t in run.view.rows("build_tags", "id")] == [
        (61, "nightly", run.build.created_on),
        (64, "orphaned", orphaned.timestamp),
    ]
    assert run.view.notifications[-1] == (STATUS_CHANNEL, "1")


def test_lease_renewed_by_an_earlier_version_moves_the_lease() -> None:
    run = Run(submitted())
    run.claim()
    later = LEASE + timedelta(minutes=5)
    run.build.trigger_event(Build.LeaseRenewed, claim="c1", lease_until=later, origin=ORIGIN)

    run.step()

    assert run.row()["lease_until"] == later


def test_deleted_namespace_detaches_its_builds() -> None:
    run = Run(submitted(namespace_id=9))

    feed(run.projection, namespace_deleted(9), first=run.last + 1)

    assert run.row()["namespace_id"] is None


def test_repeated_notifications_change_nothing_and_notify_nothing() -> None:
    run = Run(submitted())
    run.claim()
    run.build.start_job("c1", 12, ORIGIN)
    started = run.step()
    run.build.finish_job("c1", 12, "passed", ORIGIN)
    finished = list(run.build.collect_events())

    feed(run.projection, started, first=run.last)
    feed(run.projection, finished, first=run.last)
    feed(run.projection, run.events, first=1)

    assert run.jobs("status") == [("queued",), ("running",), ("queued",)]
    assert run.view.notifications == [(STATUS_CHANNEL, "1")]
    assert isinstance(run.view, MemoryView)
    assert run.view.max_tracking_id(APP) == run.last
