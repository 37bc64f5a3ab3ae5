"""Builds run by a worker, end to end: submitted over HTTP, run by the `os` driver in this
process, observed through the API, the output store and the blob store."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.builds import Build
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.worker import Worker, WorkerConfig
from tests.conftest import Users
from tests.helpers import Auth, Client
from tests.unit.test_keys import ed25519_key
from tests.worker_support import (
    all_output,
    build_json,
    event_count,
    events_of,
    finished,
    job_ids,
    job_output,
    jobs,
    manifest,
    shared_dir,
    sleepers,
    submit,
    until,
)

SECRET = "s3cr3t-hunter2-value"
GHOST = Origin.system("worker:ghost")


@pytest.fixture
def alice(users: Users) -> Auth:
    return users.create("alice")[1]


@pytest.fixture
def shared() -> Iterator[Path]:
    """Files a test and its jobs (which run as the build user) both reach."""
    with shared_dir() as path:
        yield path


@pytest.fixture
def start_worker(marid: Marid) -> Callable[..., Worker]:
    """Starts workers in this process with short leases; the `marid` fixture stops them."""
    count = 0

    def start(**config: Any) -> Worker:
        nonlocal count
        count += 1
        defaults: dict[str, Any] = {
            "name": f"test-{count}",
            "parallelism": 2,
            "timeout": timedelta(seconds=60),
            "lease": timedelta(seconds=3),
            "sweep_interval": 0.3,
        }
        return marid.start_worker(WorkerConfig(**(defaults | config)))

    return start


@pytest.fixture
def worker(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker()


def test_passing_build_runs_every_job_in_order_and_passes(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    text = manifest(
        [
            {"stage": "build", "commands": ["echo building > built.txt"]},
            {"stage": "test", "name": "check", "commands": ["cat built.txt", "echo tested"]},
        ]
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "passed"
    assert result["started_at"] is not None
    assert result["finished_at"] is not None
    assert result["started_at"] <= result["finished_at"]
    statuses = {name: job["status"] for name, job in jobs(client, alice, 1).items()}
    assert statuses == {"create-driver": "passed", "build.1": "passed", "check": "passed"}
    check = job_output(marid, created["id"], "check")
    assert check == "+ cat built.txt\nbuilding\n+ echo tested\ntested\n"
    build_log = build_json(client, alice, 1)["output"]  # the whole log, setup first
    assert build_log.startswith(job_output(marid, created["id"], "create-driver"))
    assert "Running with os driver" in build_log
    assert check in build_log
    assert build_log.endswith("Build passed\n")


def test_a_new_build_is_noticed_from_the_event_log_without_waiting_for_a_sweep(
    client: Client, alice: Auth, start_worker: Callable[..., Worker]
) -> None:
    start_worker(sweep_interval=3600.0)  # one sweep at start, then only the log
    time.sleep(0.5)  # let the first (empty) sweep pass

    submit(client, alice, manifest([{"stage": "s", "commands": ["true"]}]))
    result = finished(client, alice, 1, timeout=10)

    assert result["status"] == "passed"


def test_builds_queued_before_the_worker_started_are_swept_up(
    client: Client, alice: Auth, start_worker: Callable[..., Worker]
) -> None:
    submit(client, alice, manifest([{"stage": "s", "commands": ["true"]}]))
    submit(client, alice, manifest([{"stage": "s", "commands": ["true"]}]))

    start_worker()

    assert finished(client, alice, 1)["status"] == "passed"
    assert finished(client, alice, 2)["status"] == "passed"


def test_failing_job_stops_the_build_and_later_jobs_never_run(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    text = manifest(
        [
            {"stage": "test", "name": "first", "commands": ["echo one", "exit 3", "echo no"]},
            {"stage": "test", "name": "second", "commands": ["echo two"]},
            {"stage": "deploy", "name": "third", "commands": ["echo three"]},
        ]
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "failed"
    found = jobs(client, alice, 1)
    assert found["first"]["status"] == "failed"
    assert found["second"]["status"] == "failed"  # never ran: it takes the build's status
    assert found["second"]["started_at"] is None
    assert found["third"]["started_at"] is None
    assert job_output(marid, created["id"], "first") == "+ echo one\none\n+ exit 3\n"
    assert job_output(marid, created["id"], "second") == ""
    assert "Job first failed (exit status 3)" in marid.build_logs.text(created["id"], 0)


def test_failures_in_allow_failures_stages_give_passed_with_failures(
    client: Client, alice: Auth, marid: Marid, worker: Worker, shared: Path
) -> None:
    marker = shared / "after"
    text = manifest(
        [
            {"stage": "lint", "name": "lint", "commands": ["false"]},
            {"stage": "lint", "name": "lint-more", "commands": ["echo still runs"]},
            {"stage": "test", "name": "test", "commands": [f"touch {marker}"]},
        ],
        allow_failures=["lint"],
    )

    submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "passed_with_failures"
    statuses = {name: job["status"] for name, job in jobs(client, alice, 1).items()}
    assert statuses["lint"] == "passed_with_failures"
    assert statuses["lint-more"] == "passed"
    assert statuses["test"] == "passed"
    assert marker.exists()


def test_jobs_without_commands_pass_without_starting(
    client: Client, alice: Auth, worker: Worker
) -> None:
    submit(client, alice, manifest([{"stage": "empty", "name": "nothing", "commands": []}]))

    result = finished(client, alice, 1)

    assert result["status"] == "passed"
    nothing = jobs(client, alice, 1)["nothing"]
    assert (nothing["status"], nothing["started_at"]) == ("passed", None)


def test_jobs_run_in_the_order_of_stages_not_of_the_manifest(
    client: Client, alice: Auth, marid: Marid, worker: Worker, shared: Path
) -> None:
    log = shared / "order"
    text = manifest(
        [
            {"stage": "second", "name": "b", "commands": [f"echo b >> {log}"]},
            {"stage": "first", "name": "a", "commands": [f"echo a >> {log}"]},
        ],
        stages=["first", "second"],
    )

    submit(client, alice, text)

    assert finished(client, alice, 1)["status"] == "passed"
    assert log.read_text() == "a\nb\n"


def test_objects_are_placed_and_a_failed_placement_is_reported_not_fatal(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    upload = client.post(
        "/api/objects", params={"name": "data.txt"}, content=b"object content\n", headers=alice
    )
    assert upload.status_code == 201, upload.text
    text = manifest(
        [{"stage": "s", "commands": ["cat placed/data.txt", "cat data.txt"]}],
        objects=["data.txt => placed/data.txt", "data.txt", "data.txt => /etc/marid-escape"],
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "passed"
    assert job_output(marid, created["id"], "s.1").count("object content") == 2
    setup_log = job_output(marid, created["id"], "create-driver")
    assert "Placed object data.txt at " in setup_log
    assert "Failed to place object data.txt at /etc/marid-escape" in setup_log
    assert not Path("/etc/marid-escape").exists()


def test_variables_are_in_the_environment_and_masked_values_never_stored(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    for body in (
        {"key": "SECRET", "value": SECRET, "mask": True},
        {"key": "VISIBLE", "value": "plain-value"},
    ):
        response = client.post("/api/variables", json=body, headers=alice)
        assert response.status_code == 201, response.text
    commands = [
        'echo "$SECRET"',  # traced by set -x and printed
        'echo "manifest says $FROM_MANIFEST and $VISIBLE"',
        "set +x",  # no trace between the two halves below
        # The secret in two writes, half a second apart.
        "printf '%s' \"$SECRET\" | cut -c1-9 | tr -d '\\n'; sleep 0.5; "
        "printf '%s\\n' \"$SECRET\" | cut -c10-",
        'test "${#SECRET}" = ' + str(len(SECRET)),
    ]
    text = manifest([{"stage": "s", "commands": commands}], env=["FROM_MANIFEST=hello"])

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "passed"  # the last command saw the real value
    output = job_output(marid, created["id"], "s.1")
    assert "manifest says hello and plain-value" in output
    assert "+ echo xxxxxx\nxxxxxx\n" in output
    assert output.endswith("+ set +x\nxxxxxx\n")
    stored = all_output(marid)
    assert stored
    assert not any(SECRET in chunk for chunk in stored)
    assert not any(SECRET[:9] in chunk for chunk in stored)
    served = client.get("/api/b/alice/1/jobs/s.1/output", headers=alice)
    streamed = client.get(
        "/api/b/alice/1/jobs/s.1/output", headers=alice | {"Accept": "text/event-stream"}
    )
    assert served.text == output
    assert "data: xxxxxx" in streamed.text
    assert "event: end" in streamed.text
    assert SECRET[:9] not in served.text
    assert SECRET[:9] not in streamed.text


def test_artifacts_are_collected_with_sizes_and_digests_and_missing_ones_recorded(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    content = "".join(f"{i}\n" for i in range(1, 5001)).encode() + b"\x00\x01\xff"
    text = manifest(
        [
            {
                "stage": "s",
                "commands": [
                    "mkdir -p out && seq 1 5000 > out/all.bin",
                    "printf '\\000\\001\\377' >> out/all.bin",
                ],
                "artifacts": ["out/all.bin => all.bin", "missing.txt"],
            }
        ]
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "passed"
    found = {a["name"]: a for a in client.get("/api/b/alice/1/artifacts", headers=alice).json()}
    collected = found["all.bin"]
    assert collected["size"] == len(content)
    assert collected["md5"] == hashlib.md5(content).hexdigest()  # noqa: S324 - a digest field
    assert collected["sha256"] == hashlib.sha256(content).hexdigest()
    assert (found["missing.txt"]["size"], found["missing.txt"]["sha256"]) == (None, None)
    key = f"artifacts/{created['id']}/{collected['id']}"
    with marid.blobs.open(key) as stored:
        assert stored.read() == content
    binary = {"Accept": "application/octet-stream"}
    download = client.get("/api/b/alice/1/artifacts/all.bin", headers=alice | binary)
    part = client.get(
        "/api/b/alice/1/artifacts/all.bin", headers=alice | binary | {"Range": "bytes=0-9"}
    )
    assert download.status_code == 200
    assert download.content == content
    assert (part.status_code, part.content) == (206, content[:10])
    assert "Artifact missing.txt not found" in job_output(marid, created["id"], "s.1")


def test_ssh_keys_are_installed_in_the_builds_own_home_with_a_config(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    key = ed25519_key()
    response = client.post(
        "/api/keys",
        json={"name": "deploy", "key": key, "config": "Host example\n  User git"},
        headers=alice,
    )
    assert response.status_code == 201, response.text
    commands = [
        'stat -c %a "$HOME/.ssh/deploy"',
        'cat "$HOME/.ssh/config"',
        'test "$(head -1 "$HOME/.ssh/deploy")" = "-----BEGIN OPENSSH PRIVATE KEY-----"',
    ]

    created = submit(client, alice, manifest([{"stage": "s", "commands": commands}]))
    result = finished(client, alice, 1)

    assert result["status"] == "passed"
    output = job_output(marid, created["id"], "s.1")
    assert "\n600\n" in output
    assert "StrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n" in output
    assert "Host example\n  User git\n" in output
    assert "/.ssh/deploy\n" in output  # an IdentityFile line for the key


def test_sources_are_cloned_at_their_ref(
    client: Client, alice: Auth, marid: Marid, worker: Worker, shared: Path
) -> None:
    repo = shared / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "file.txt").write_text("first\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    (repo / "file.txt").write_text("second\n")
    subprocess.run([*git, "commit", "-qam", "two"], check=True)
    subprocess.run(["chown", "-R", "marid-build:", str(repo)], check=True)  # git: not dubious
    text = manifest(
        [{"stage": "s", "commands": ["cat code/file.txt"]}],
        sources=[f"file://{repo} v1 => code"],
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "passed", marid.build_logs.text(created["id"], 0)
    assert jobs(client, alice, 1)["clone.0"]["status"] == "passed"
    assert "first\n" in job_output(marid, created["id"], "s.1")


def test_a_failing_clone_fails_the_build(client: Client, alice: Auth, worker: Worker) -> None:
    text = manifest(
        [{"stage": "s", "commands": ["true"]}], sources=["file:///nonexistent/repo.git"]
    )

    submit(client, alice, text)

    assert finished(client, alice, 1)["status"] == "failed"
    found = jobs(client, alice, 1)
    assert (found["clone.0"]["status"], found["s.1"]["status"]) == ("failed", "failed")


def test_output_is_stored_while_the_job_runs(
    client: Client, alice: Auth, marid: Marid, worker: Worker, shared: Path
) -> None:
    go_on = shared / "go-on"
    commands = ["echo first", f"while [ ! -e {go_on} ]; do sleep 0.05; done", "echo second"]
    created = submit(client, alice, manifest([{"stage": "s", "commands": commands}]))

    until(
        lambda: "first\n" in job_output(marid, created["id"], "s.1"),
        10,
        "the first line while the job runs",
    )
    running = build_json(client, alice, 1)["status"]
    go_on.touch()
    result = finished(client, alice, 1)

    assert running == "running"
    assert result["status"] == "passed"
    assert job_output(marid, created["id"], "s.1").endswith("second\n")


def test_killing_a_running_build_stops_its_processes_within_seconds(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    text = manifest(
        [
            {"stage": "s", "name": "long", "commands": ["echo started", "sleep 60.417"]},
            {"stage": "s", "name": "after", "commands": ["echo never"]},
        ]
    )
    created = submit(client, alice, text)
    until(lambda: sleepers("sleep 60.417"), 10, "the job's sleep to start")

    asked = time.monotonic()
    response = client.delete("/api/b/alice/1", headers=alice)
    result = finished(client, alice, 1, timeout=10)
    took = time.monotonic() - asked

    assert response.status_code == 204
    assert result["status"] == "killed"
    assert took < 5, took
    found = jobs(client, alice, 1)
    assert (found["long"]["status"], found["after"]["status"]) == ("killed", "killed")
    assert found["create-driver"]["status"] == "passed"
    assert not sleepers("sleep 60.417")
    assert "echo never" not in job_output(marid, created["id"], "after")


def test_a_build_past_the_workers_timeout_ends_timed_out(
    client: Client, alice: Auth, start_worker: Callable[..., Worker]
) -> None:
    start_worker(timeout=timedelta(seconds=1.5))
    text = manifest([{"stage": "s", "name": "slow", "commands": ["sleep 60.733"]}])

    submit(client, alice, text)
    result = finished(client, alice, 1, timeout=15)

    assert result["status"] == "timed_out"
    assert jobs(client, alice, 1)["slow"]["status"] == "timed_out"
    assert not sleepers("sleep 60.733")


def ghost_claim(marid: Marid, build_id: int, lease: float) -> str:
    """Claim a build as a worker that then dies (never renews, never runs anything)."""
    plan = marid.app.claim_build(build_id, "ghost", timedelta(seconds=lease), GHOST).value
    assert plan is not None
    return plan.claim


def test_a_build_whose_worker_died_is_run_again_tagged_orphaned(
    client: Client, alice: Auth, marid: Marid, start_worker: Callable[..., Worker]
) -> None:
    created = submit(client, alice, manifest([{"stage": "s", "commands": ["echo rerun"]}]))
    claim = ghost_claim(marid, created["id"], lease=1.0)
    marid.app.start_job(created["id"], claim, job_ids(marid, created["id"])["create-driver"], GHOST)
    marid.build_logs.append(created["id"], 0, "output of the dead worker\n")

    start_worker()
    result = finished(client, alice, 1, timeout=20)

    assert result["status"] == "passed"
    assert "orphaned" in result["tags"]
    assert "output of the dead worker" not in marid.build_logs.text(created["id"], 0)
    assert "rerun\n" in job_output(marid, created["id"], "s.1")


def test_an_orphan_whose_kill_was_requested_ends_killed_without_running(
    client: Client, alice: Auth, marid: Marid, start_worker: Callable[..., Worker]
) -> None:
    created = submit(client, alice, manifest([{"stage": "s", "commands": ["echo no"]}]))
    ghost_claim(marid, created["id"], lease=1.0)
    assert client.delete("/api/b/alice/1", headers=alice).status_code == 204  # kill requested

    start_worker()
    result = finished(client, alice, 1, timeout=20)

    assert result["status"] == "killed"
    assert jobs(client, alice, 1)["s.1"]["started_at"] is None
    assert event_count(marid, "Build.JobStarted") == 0


def test_a_worker_that_loses_its_claim_stops_the_job_and_issues_nothing_more(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    text = manifest([{"stage": "s", "name": "long", "commands": ["sleep 60.281"]}])
    created = submit(client, alice, text)
    until(lambda: sleepers("sleep 60.281"), 10, "the job's sleep to start")
    build = marid.app.load(Build.create_id(created["id"]), Build)
    assert build is not None
    assert build.claim is not None

    events = events_of(marid, Build.create_id(created["id"]))

    # Another party ends the build under the worker's feet (as a reclaim would).
    marid.app.finish_build(created["id"], build.claim, "failed", GHOST)
    until(lambda: not sleepers("sleep 60.281"), 10, "the job to be stopped")
    until(lambda: not worker.runs, 10, "the worker to abandon the build")

    after = events_of(marid, Build.create_id(created["id"]))
    assert after[: len(events)] == events
    assert [t.rsplit(".", 1)[-1] for t in after[len(events) :]] == ["Finished"]  # ours only
    assert build_json(client, alice, 1)["status"] == "failed"
    assert "Build failed" not in marid.build_logs.text(created["id"], 0)


def test_two_workers_run_each_of_twenty_builds_exactly_once(
    client: Client, alice: Auth, marid: Marid, start_worker: Callable[..., Worker], shared: Path
) -> None:
    start_worker(parallelism=3)
    start_worker(parallelism=3)
    text = manifest(
        [{"stage": "s", "commands": [f'echo "$BUILD_TAG" >> {shared}/runs', "sleep 0.3"]}],
    )
    for i in range(20):
        submit(client, alice, text.replace("driver:", f"env: [BUILD_TAG=b{i}]\ndriver:", 1))

    results = [finished(client, alice, n, timeout=60) for n in range(1, 21)]

    assert {r["status"] for r in results} == {"passed"}
    runs = (shared / "runs").read_text().split()
    assert sorted(runs) == sorted(f"b{i}" for i in range(20))
    assert event_count(marid, "Build.Claimed") == 20
    assert event_count(marid, "Build.JobStarted") == 40  # create-driver and s.1, once each
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT DISTINCT worker FROM builds")
        assert {row["worker"] for row in curs.fetchall()} == {"test-1", "test-2"}


def test_a_stopping_worker_abandons_its_builds_for_another_to_rerun(
    client: Client, alice: Auth, marid: Marid, start_worker: Callable[..., Worker]
) -> None:
    first = start_worker(lease=timedelta(seconds=1))
    created = submit(client, alice, manifest([{"stage": "s", "commands": ["sleep 60.519"]}]))
    until(lambda: sleepers("sleep 60.519"), 10, "the job's sleep to start")

    first.stop()

    assert not sleepers("sleep 60.519")
    assert build_json(client, alice, 1)["status"] == "running"  # until the lease runs out
    start_worker(timeout=timedelta(seconds=1))
    result = finished(client, alice, 1, timeout=20)
    assert result["status"] == "timed_out"  # the second run, under the short timeout
    assert "orphaned" in result["tags"]
    assert created["id"] == result["id"]
