"""A build's run in the read model and the output store, on PostgreSQL: claim, job progress,
artifacts, the end, orphans, lost claims, `claimable`, output, notifications and rebuild.

The worker is not involved: tests issue its commands (`claim_build`, `start_job`, ...)
themselves, as `Origin.system("worker:...")`, with the leases a worker uses (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from application.execution import RunPlan
from domain.builds import LostClaim
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.build_logs import CHANNEL, OutputFeed, OutputSubscription
from infrastructure.leases import PostgresLeases
from projections.build_rows import ArtifactRow, BuildRow, JobRow
from projections.builds import STATUS_CHANNEL, BuildFilters, BuildsProjection, BuildsView
from projections.maintenance import rebuild

ORIGIN = Origin.system("test")
W1 = Origin.system("worker:w1")
W2 = Origin.system("worker:w2")
LEASE = timedelta(minutes=5)
EXPIRED = timedelta(seconds=-1)  # a lease that has already run out: the holder "died"
MANIFEST = """
driver: {type: os}
stages: [test, lint]
allow_failures: [lint]
jobs:
- stage: test
  commands: [make test]
  artifacts: [out/report.xml => report, bin/app]
- stage: lint
  commands: [make lint]
"""


@dataclass
class Run:
    """A submitted build and what its claim returned."""

    build_id: int
    owner_id: int
    plan: RunPlan

    @property
    def claim(self) -> str:
        return self.plan.claim

    def job(self, name: str) -> int:
        return next(job.id for job in self.plan.jobs if job.name == name)

    def artifact(self, name: str) -> int:
        return next(a["id"] for job in self.plan.jobs for a in job.artifacts if a["name"] == name)


def submit(marid: Marid, owner_id: int, text: str = MANIFEST) -> int:
    outcome = marid.app.submit_build(
        owner_id, text, None, None, ("os", "docker"), marid.build_inputs, ORIGIN
    )
    return int(marid.settle(outcome))


def claim(marid: Marid, build_id: int, origin: Origin = W1, lease: timedelta = LEASE) -> RunPlan:
    plan = marid.settle(marid.app.claim_build(build_id, origin.actor, lease, origin))
    assert plan is not None
    return plan


@pytest.fixture(autouse=True)
def leases(marid: Marid) -> PostgresLeases:
    """The leases a worker brings (`Worker.start`) until bootstrap wires them."""
    leases = PostgresLeases(marid.datastore)
    leases.create_table()
    marid.app.leases = leases
    return leases


@pytest.fixture
def owner(marid: Marid) -> int:
    return int(marid.settle(marid.app.register_user("alice", "alice@example.com", ORIGIN)))


@pytest.fixture
def run(marid: Marid, owner: int) -> Run:
    build_id = submit(marid, owner)
    return Run(build_id, owner, claim(marid, build_id))


def build_row(marid: Marid, build_id: int) -> BuildRow:
    row = marid.builds.get_by_id(build_id)
    assert row is not None
    return row


def jobs(marid: Marid, build_id: int) -> dict[str, JobRow]:
    return {job.name: job for job in marid.builds.jobs(build_id)}


def artifact(marid: Marid, build_id: int, name: str) -> ArtifactRow:
    row = marid.builds.artifact(build_id, name)
    assert row is not None
    return row


def raw(marid: Marid, sql: str, *params: Any) -> list[dict[str, Any]]:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(sql, params)
        return [dict(row) for row in curs.fetchall()]


def complete(marid: Marid, run: Run, status: str = "passed") -> None:
    """Run every job to `status` and end the build with it."""
    for job in run.plan.jobs:
        marid.settle(marid.app.start_job(run.build_id, run.claim, job.id, W1))
        marid.settle(marid.app.finish_job(run.build_id, run.claim, job.id, status, W1))
    marid.settle(marid.app.finish_build(run.build_id, run.claim, status, W1))


# --- claim, progress, end ------------------------------------------------------------------


def test_claim_makes_the_build_running_under_the_workers_lease(marid: Marid, owner: int) -> None:
    build_id = submit(marid, owner)
    before = datetime.now(UTC)

    plan = claim(marid, build_id)

    row = build_row(marid, build_id)
    (db,) = raw(marid, "SELECT worker, lease_until FROM builds WHERE id = %s", build_id)
    assert row.status == "running"
    assert row.started_at is not None
    assert before <= row.started_at <= datetime.now(UTC)
    assert row.finished_at is None
    assert row.output is None
    assert db["worker"] == "system:worker:w1"
    assert db["lease_until"] > datetime.now(UTC) + LEASE - timedelta(minutes=1)
    assert {j.status for j in marid.builds.jobs(build_id)} == {"queued"}
    assert plan.orphaned is False


def test_lease_renewal_moves_the_heartbeat_not_the_read_model(
    marid: Marid, run: Run, leases: PostgresLeases
) -> None:
    (old,) = raw(marid, "SELECT lease_until FROM builds WHERE id = %s", run.build_id)

    kill = marid.settle(marid.app.renew_lease(run.build_id, run.claim, LEASE * 2, W1))

    (new,) = raw(marid, "SELECT lease_until FROM builds WHERE id = %s", run.build_id)
    heartbeat = leases.expiry(run.build_id, run.claim)
    assert kill is False
    assert new == old  # the lease its claim recorded: renewals are not events
    assert heartbeat is not None
    assert heartbeat > old["lease_until"] + LEASE / 2


def test_job_start_and_finish_set_status_and_times(marid: Marid, run: Run) -> None:
    test = run.job("test.1")

    marid.settle(marid.app.start_job(run.build_id, run.claim, test, W1))
    running = jobs(marid, run.build_id)["test.1"]
    marid.settle(marid.app.finish_job(run.build_id, run.claim, test, "failed", W1))
    ended = jobs(marid, run.build_id)["test.1"]

    assert (running.status, running.finished_at) == ("running", None)
    assert running.started_at is not None
    assert ended.status == "failed"
    assert ended.started_at == running.started_at
    assert ended.finished_at is not None
    assert ended.finished_at >= ended.started_at
    assert jobs(marid, run.build_id)["lint.1"].status == "queued"


def test_a_job_without_commands_ends_without_having_started(marid: Marid, run: Run) -> None:
    driver = run.job("create-driver")

    marid.settle(marid.app.finish_job(run.build_id, run.claim, driver, "passed", W1))

    job = jobs(marid, run.build_id)["create-driver"]
    assert (job.status, job.started_at) == ("passed", None)
    assert job.finished_at is not None


def test_collected_artifacts_get_size_and_digests_missing_ones_stay_empty(
    marid: Marid, run: Run
) -> None:
    md5, sha = "a" * 32, "b" * 64
    report_id, app_id = run.artifact("report"), run.artifact("app")

    marid.settle(marid.app.record_artifact(run.build_id, run.claim, report_id, 12, md5, sha, W1))
    marid.settle(marid.app.record_artifact(run.build_id, run.claim, app_id, None, None, None, W1))

    report, app = artifact(marid, run.build_id, "report"), artifact(marid, run.build_id, "app")
    assert (report.size, report.md5, report.sha256) == (12, md5, sha)
    assert report.collected_at is not None
    assert report.deleted_at is None
    assert (app.size, app.md5, app.sha256, app.collected_at) == (None, None, None, None)


def test_finish_ends_the_build_and_every_job_that_had_not_ended(marid: Marid, run: Run) -> None:
    app, driver, test = marid.app, run.job("create-driver"), run.job("test.1")
    marid.settle(app.finish_job(run.build_id, run.claim, driver, "passed", W1))
    marid.settle(app.start_job(run.build_id, run.claim, test, W1))

    marid.settle(app.finish_build(run.build_id, run.claim, "timed_out", W1))

    row = build_row(marid, run.build_id)
    (db,) = raw(marid, "SELECT worker, lease_until FROM builds WHERE id = %s", run.build_id)
    by_name = jobs(marid, run.build_id)
    assert row.status == "timed_out"
    assert row.finished_at is not None
    assert row.started_at is not None
    assert row.finished_at >= row.started_at
    assert (db["worker"], db["lease_until"]) == ("system:worker:w1", None)
    assert by_name["create-driver"].status == "passed"
    assert by_name["test.1"].status == "timed_out"
    assert by_name["test.1"].finished_at == row.finished_at  # it was cut short now
    assert (by_name["lint.1"].status, by_name["lint.1"].finished_at) == ("timed_out", None)


def test_a_running_build_asked_to_stop_ends_killed_by_its_worker(marid: Marid, run: Run) -> None:
    marid.settle(marid.app.kill_build(run.build_id, run.owner_id, ORIGIN))
    still = build_row(marid, run.build_id).status

    kill = marid.settle(marid.app.renew_lease(run.build_id, run.claim, LEASE, W1))
    marid.settle(marid.app.finish_build(run.build_id, run.claim, "killed", W1))

    assert (still, kill) == ("running", True)
    assert build_row(marid, run.build_id).status == "killed"
    assert {j.status for j in marid.builds.jobs(run.build_id)} == {"killed"}


# --- orphans and lost claims ---------------------------------------------------------------


def test_an_orphan_is_reset_tagged_and_claimed_again(marid: Marid, owner: int) -> None:
    build_id = submit(marid, owner)
    first = Run(build_id, owner, claim(marid, build_id, W1, EXPIRED))
    app, test = marid.app, first.job("test.1")
    marid.settle(app.start_job(build_id, first.claim, test, W1))
    marid.settle(app.finish_job(build_id, first.claim, test, "passed", W1))
    report = first.artifact("report")
    marid.settle(app.record_artifact(build_id, first.claim, report, 3, "c" * 32, "d" * 64, W1))
    started = build_row(marid, build_id).started_at

    second = claim(marid, build_id, W2)

    row = build_row(marid, build_id)
    (db,) = raw(marid, "SELECT worker FROM builds WHERE id = %s", build_id)
    tags = marid.builds.tags(build_id)
    assert second.orphaned is True
    assert row.status == "running"
    assert db["worker"] == "system:worker:w2"
    assert row.started_at is not None
    assert started is not None
    assert row.started_at > started
    assert row.finished_at is None
    assert {(j.status, j.started_at, j.finished_at) for j in marid.builds.jobs(build_id)} == {
        ("queued", None, None)
    }
    reset = artifact(marid, build_id, "report")
    assert (reset.size, reset.md5, reset.sha256, reset.collected_at) == (None,) * 4
    assert [(t.name, t.user_id) for t in tags] == [("orphaned", owner)]
    assert "orphaned" in row.tags


def test_an_orphan_gets_the_orphaned_tag_once(marid: Marid, owner: int) -> None:
    build_id = submit(marid, owner)
    claim(marid, build_id, W1, EXPIRED)
    claim(marid, build_id, W2, EXPIRED)

    claim(marid, build_id, W1)

    assert [t.name for t in marid.builds.tags(build_id)] == ["orphaned"]


def test_the_old_holder_of_an_orphan_has_lost_its_claim(marid: Marid, owner: int) -> None:
    build_id = submit(marid, owner)
    old = Run(build_id, owner, claim(marid, build_id, W1, EXPIRED))
    claim(marid, build_id, W2)
    app, test = marid.app, old.job("test.1")
    before = marid.builds.jobs(build_id)

    attempts: list[Callable[[], Any]] = [
        lambda: app.renew_lease(build_id, old.claim, LEASE, W1),
        lambda: app.start_job(build_id, old.claim, test, W1),
        lambda: app.finish_job(build_id, old.claim, test, "passed", W1),
        lambda: app.record_artifact(build_id, old.claim, old.artifact("app"), 1, "", "", W1),
        lambda: app.finish_build(build_id, old.claim, "passed", W1),
    ]
    for attempt in attempts:
        with pytest.raises(LostClaim):
            attempt()

    assert marid.builds.jobs(build_id) == before
    assert build_row(marid, build_id).status == "running"


def test_a_finished_build_cannot_be_reported_on_or_claimed(marid: Marid, run: Run) -> None:
    complete(marid, run)

    with pytest.raises(LostClaim):
        marid.app.renew_lease(run.build_id, run.claim, LEASE, W1)
    again = marid.app.claim_build(run.build_id, "w2", LEASE, W2)

    assert again.value is None
    assert build_row(marid, run.build_id).status == "passed"


# --- claimable -----------------------------------------------------------------------------


def test_claimable_lists_queued_builds_oldest_first_for_the_drivers_given(
    marid: Marid, owner: int
) -> None:
    first, second = submit(marid, owner), submit(marid, owner)
    docker = submit(
        marid, owner, MANIFEST.replace("{type: os}", "{type: docker, image: go, workspace: /go}")
    )
    now = datetime.now(UTC)

    assert marid.builds.claimable(["os"], now, 10) == [first, second]
    assert marid.builds.claimable(["docker"], now, 10) == [docker]
    assert marid.builds.claimable(["os", "docker"], now, 10) == [first, second, docker]
    assert marid.builds.claimable(["os"], now, 1) == [first]
    assert marid.builds.claimable([], now, 10) == []
    assert marid.builds.claimable(["qemu"], now, 10) == []


def test_claimable_skips_held_ended_and_killed_builds_but_offers_expired_leases(
    marid: Marid, owner: int
) -> None:
    held, ended, killed, expired, queued = (submit(marid, owner) for _ in range(5))
    claim(marid, held)
    complete(marid, Run(ended, owner, claim(marid, ended)))
    marid.settle(marid.app.kill_build(killed, owner, ORIGIN))
    claim(marid, expired, lease=timedelta(minutes=1))
    now = datetime.now(UTC)

    later = now + timedelta(minutes=2)  # past the minute-long lease, within the others

    assert marid.builds.claimable(["os"], now, 10) == [queued]
    assert marid.builds.claimable(["os"], later, 10) == [expired, queued]
    assert marid.builds.claimable(["os"], now + LEASE * 2, 10) == [held, expired, queued]


# --- output --------------------------------------------------------------------------------


def test_output_appears_once_the_job_and_the_build_have_ended(marid: Marid, run: Run) -> None:
    test = run.job("test.1")
    marid.build_logs.append(run.build_id, 0, "creating driver\n")
    marid.settle(marid.app.start_job(run.build_id, run.claim, test, W1))
    marid.build_logs.append(run.build_id, test, "$ make test\n")
    marid.build_logs.append(run.build_id, test, "ok\n")
    while_running = jobs(marid, run.build_id)["test.1"].output

    marid.settle(marid.app.finish_job(run.build_id, run.claim, test, "passed", W1))
    job_done, build_running = jobs(marid, run.build_id)["test.1"], build_row(marid, run.build_id)
    marid.settle(marid.app.finish_build(run.build_id, run.claim, "passed", W1))

    assert while_running is None
    assert job_done.output == "$ make test\nok\n"
    assert build_running.output is None
    # the build's output is its whole log, every job's part in the order it was stored
    assert build_row(marid, run.build_id).output == "creating driver\n$ make test\nok\n"
    assert jobs(marid, run.build_id)["lint.1"].output is None  # ended, but nothing written


def test_output_of_lists_and_single_reads_agree(marid: Marid, run: Run) -> None:
    marid.build_logs.append(run.build_id, 0, "log")
    complete(marid, run)

    row = build_row(marid, run.build_id)
    listed = marid.builds.visible(run.owner_id, BuildFilters(), 1, 25)[0]

    assert listed == [row]
    assert row.output == "log"


def test_append_numbers_chunks_in_order_and_reads_them_back(marid: Marid) -> None:
    logs = marid.build_logs

    seqs = [logs.append(7, 3, text) for text in ("a\n", "b", "c\n")]
    other = logs.append(7, 4, "elsewhere")

    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    assert logs.text(7, 3) == "a\nbc\n"
    assert logs.chunks(7, 3) == list(zip(seqs, ["a\n", "b", "c\n"], strict=True))
    assert logs.chunks(7, 3, seqs[0]) == list(zip(seqs[1:], ["b", "c\n"], strict=True))
    assert logs.chunks(7, 3, seqs[0], limit=1) == [(seqs[1], "b")]
    assert logs.chunks(7, 3, seqs[-1]) == []
    assert logs.text(7, 4) == "elsewhere"
    assert other > seqs[-1]
    assert logs.text(7, 5) == ""
    assert logs.text(8, 3) == ""


def test_nul_characters_are_stored_as_the_text_nul(marid: Marid) -> None:
    marid.build_logs.append(1, 1, "a\x00b\x00")

    assert marid.build_logs.text(1, 1) == "aNULbNUL"


def test_text_that_is_not_valid_unicode_is_stored_with_replacements(marid: Marid) -> None:
    broken = b"ok \xff\xfe".decode("utf-8", "surrogateescape")

    marid.build_logs.append(1, 1, broken)

    assert marid.build_logs.text(1, 1) == "ok ??"


def test_clear_forgets_a_builds_output_and_later_chunks_number_higher(marid: Marid) -> None:
    logs = marid.build_logs
    old = logs.append(1, 1, "first run")
    logs.append(1, 0, "driver")
    logs.append(2, 1, "another build")

    logs.clear(1)
    new = logs.append(1, 1, "second run")

    assert logs.text(1, 1) == "second run"
    assert logs.text(1, 0) == ""
    assert logs.text(2, 1) == "another build"
    assert new > old  # a stream that had seen `old` still gets the re-run's output


def test_concurrent_appends_to_one_job_commit_in_seq_order(marid: Marid) -> None:
    logs = marid.build_logs

    threads = [
        threading.Thread(target=lambda n=n: [logs.append(1, 1, f"{n}.{i};") for i in range(20)])
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    chunks = logs.chunks(1, 1)
    assert len(chunks) == 80
    for n in range(4):  # each writer's chunks stay in its own order
        mine = [data for _, data in chunks if data.startswith(f"{n}.")]
        assert mine == [f"{n}.{i};" for i in range(20)]


# --- notifications -------------------------------------------------------------------------


@pytest.fixture
def listener(marid: Marid) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(marid.conninfo, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        conn.execute(f"LISTEN {STATUS_CHANNEL}")
        yield conn


def received(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [(n.channel, n.payload) for n in conn.notifies(timeout=1.0, stop_after=1)]


def test_append_and_clear_notify_the_output_channel(
    marid: Marid, listener: psycopg.Connection[Any]
) -> None:
    marid.build_logs.append(5, 9, "x")
    appended = received(listener)
    marid.build_logs.clear(5)

    assert appended == [(CHANNEL, "5:9")]
    assert received(listener) == [(CHANNEL, "5:0")]


def test_job_ends_notify_the_status_channel(
    marid: Marid, run: Run, listener: psycopg.Connection[Any]
) -> None:
    driver = run.job("create-driver")

    marid.settle(marid.app.finish_job(run.build_id, run.claim, driver, "passed", W1))
    job_end = received(listener)
    marid.settle(marid.app.finish_build(run.build_id, run.claim, "failed", W1))

    assert job_end == [(STATUS_CHANNEL, str(run.build_id))]
    assert received(listener) == [(STATUS_CHANNEL, str(run.build_id))]


def test_a_subscription_wakes_when_its_build_gets_output(marid: Marid) -> None:
    async def scenario() -> tuple[bool, bool, float]:
        with marid.build_logs.subscribe(11) as subscription:
            assert marid.build_logs.feed is not None
            await wait_for_feed(marid.build_logs.feed)
            await asyncio.sleep(0)  # let the feed's wake-everyone-on-connect run
            subscription.clear()
            other = asyncio.to_thread(marid.build_logs.append, 12, 1, "not ours")
            await other
            woken_by_other = await subscription.wait(0.3)
            start = time.monotonic()
            await asyncio.to_thread(marid.build_logs.append, 11, 1, "ours")
            woken = await subscription.wait(5)
            return woken_by_other, woken, time.monotonic() - start

    woken_by_other, woken, _ = asyncio.run(scenario())

    assert woken_by_other is False
    assert woken is True
    assert marid.build_logs.feed is not None
    assert marid.build_logs.feed.subscriber_count() == 0


def test_a_subscription_without_a_feed_polls(marid: Marid) -> None:
    async def scenario() -> tuple[bool, float]:
        subscription = OutputSubscription(None, 1, poll=0.05)
        start = time.monotonic()
        woken = await subscription.wait(10)
        return woken, time.monotonic() - start

    woken, waited = asyncio.run(scenario())

    assert woken is False
    assert waited < 5  # returned after the poll interval, not the 10 s asked for


async def wait_for_feed(feed: OutputFeed, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not feed.listening:
        assert time.monotonic() < deadline, "the output feed never started listening"
        await asyncio.sleep(0.01)


# --- rebuild -------------------------------------------------------------------------------


def test_rebuild_after_runs_orphans_and_kills_gives_identical_rows(
    marid: Marid, owner: int
) -> None:
    app = marid.app
    done = submit(marid, owner)
    complete(marid, Run(done, owner, claim(marid, done)))
    orphan = submit(marid, owner)
    first = Run(orphan, owner, claim(marid, orphan, W1, EXPIRED))
    marid.settle(app.start_job(orphan, first.claim, first.job("test.1"), W1))
    report = first.artifact("report")
    marid.settle(app.record_artifact(orphan, first.claim, report, 1, "e" * 32, "f" * 64, W1))
    second = Run(orphan, owner, claim(marid, orphan, W2))
    marid.settle(app.renew_lease(orphan, second.claim, LEASE, W2))
    marid.settle(app.record_artifact(orphan, second.claim, report, 2, "1" * 32, "2" * 64, W2))
    killed = submit(marid, owner)
    marid.settle(app.kill_build(killed, owner, ORIGIN))
    marid.read_models.stop()  # compare with the live tables at rest
    view = marid.projections["builds"].view
    live = {table: view.rows(table) for table in BuildsView.tables}

    rebuild(app, marid.datastore, BuildsProjection, BuildsView)  # type: ignore[arg-type]

    assert {table: view.rows(table) for table in BuildsView.tables} == live
    statuses = {row["id"]: row["status"] for row in live["builds"]}
    assert statuses == {done: "passed", orphan: "running", killed: "killed"}
    assert any(row["name"] == "orphaned" for row in live["build_tags"])
