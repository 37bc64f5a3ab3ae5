"""A build's `output` over HTTP is its whole log, as Djinn's is: the driver's setup output
and every job's output in run order, masked; a job's `output` is its own part.

A real worker runs the builds (the `os` driver) in this process.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from infrastructure.bootstrap import Marid
from infrastructure.worker import Worker, WorkerConfig
from tests.helpers import Auth, Client
from tests.worker_support import finished, jobs, manifest, submit

SECRET = "hunter2-build-log-secret"


@pytest.fixture
def worker(marid: Marid) -> Worker:
    config = WorkerConfig(
        name="log-test",
        parallelism=1,
        timeout=timedelta(seconds=60),
        lease=timedelta(seconds=5),
        sweep_interval=0.3,
    )
    return marid.start_worker(config, ("os",))


def run_build(client: Client, auth: Auth, jobs_: list[dict[str, Any]]) -> dict[str, Any]:
    submit(client, auth, manifest(jobs_))
    return finished(client, auth, 1)


def test_a_builds_output_is_setup_then_every_job_in_run_order(
    client: Client, alice: Auth, worker: Worker
) -> None:
    got = run_build(
        client,
        alice,
        [
            {"stage": "build", "name": "compile", "commands": ["echo compiling"]},
            {"stage": "test", "name": "unit", "commands": ["echo unit tests ran"]},
            {"stage": "test", "name": "lint", "commands": ["echo lint ran", "exit 0"]},
        ],
    )

    parts = jobs(client, alice, 1)
    output = got["output"]
    assert got["status"] == "passed"
    assert output.startswith(parts["create-driver"]["output"])
    assert "Running with os driver" in parts["create-driver"]["output"]
    positions = [output.index(parts[n]["output"]) for n in ("compile", "unit", "lint")]
    assert positions == sorted(positions)
    assert output.index("Running job compile...") < positions[0]
    assert "+ echo compiling\ncompiling\n" in output
    assert output.endswith("Build passed\n")
    assert parts["unit"]["output"] == "+ echo unit tests ran\nunit tests ran\n"


def test_the_build_list_shows_the_same_whole_log(
    client: Client, alice: Auth, worker: Worker
) -> None:
    got = run_build(client, alice, [{"stage": "s", "commands": ["echo listed"]}])

    listed = client.get("/api/builds", headers=alice).json()

    assert [b["output"] for b in listed] == [got["output"]]
    assert "+ echo listed\nlisted\n" in got["output"]


def test_masked_values_are_absent_from_the_builds_output(
    client: Client, alice: Auth, worker: Worker
) -> None:
    response = client.post(
        "/api/variables", json={"key": "TOKEN", "value": SECRET, "mask": True}, headers=alice
    )
    assert response.status_code == 201, response.text

    got = run_build(
        client,
        alice,
        [
            {"stage": "s", "name": "show", "commands": ['echo "token is $TOKEN"']},
            # without a trailing newline: held back, then released before "Job ... passed"
            {"stage": "t", "name": "tail", "commands": ["set +x", 'printf %s "$TOKEN"']},
        ],
    )

    output = got["output"]
    assert got["status"] == "passed"
    assert SECRET not in output
    assert SECRET[:8] not in output
    assert "token is xxxxxx\n" in output
    assert "xxxxxxJob tail passed\n" in output
    assert SECRET not in jobs(client, alice, 1)["show"]["output"]


def test_a_failing_jobs_output_and_the_builds_end_are_in_its_log(
    client: Client, alice: Auth, worker: Worker
) -> None:
    got = run_build(client, alice, [{"stage": "s", "commands": ["exit 3"]}])

    assert got["status"] == "failed"
    assert "+ exit 3\n" in got["output"]
    assert "Job s.1 failed (exit status 3)\n" in got["output"]
    assert got["output"].endswith("Build failed\n")
