"""Docker builds through real processes: `marid serve` running one end to end, and a
`marid worker` killed outright mid-build, whose leftovers in Docker the next worker's sweep
removes before the build runs again, once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from infrastructure.bootstrap import Marid
from infrastructure.drivers.docker_daemon import process_owner
from infrastructure.settings import Settings
from infrastructure.worker import WorkerConfig
from tests.conftest import SECRET_KEY, Users
from tests.docker_support import ensure_image, nothing_left, ours, require_docker, running
from tests.e2e.test_serve import Server, stop_leftover_postgres
from tests.helpers import Auth, Client
from tests.worker_support import event_count, finished, job_output, manifest, submit, until

pytestmark = pytest.mark.e2e

MARID = str(Path(sys.executable).with_name("marid"))


@pytest.fixture(scope="module")
def image() -> str:
    require_docker()
    return ensure_image()


@pytest.fixture
def settings(settings: Settings, image: str) -> Settings:
    return replace(settings, drivers=("os", "docker"), docker_network="none")


@pytest.fixture
def alice(users: Users) -> Auth:
    return users.create("alice")[1]


@pytest.fixture
def docker_worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`marid worker --driver docker` with a 2-second lease, as a process of its own."""
    assert settings.database_url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARID_")}
    env |= {
        "MARID_DATABASE_URL": settings.database_url,
        "MARID_DATA_DIR": str(settings.data_dir),
        "MARID_SECRET_KEY": SECRET_KEY,
        "MARID_DB_POOL_SIZE": "2",
        "MARID_DOCKER_NETWORK": "none",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [MARID, "worker", "--name", "doomed", "--lease", "2s", "--driver", "docker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def started() -> bool:
        if process.poll() is not None:
            pytest.fail(f"marid worker exited: {log.read_text()}")
        return "Ctrl-C stops it" in log.read_text()

    until(started, 30, "the worker to start")
    yield process
    process.kill()
    process.wait()
    print(f"--- output of marid worker ---\n{log.read_text()}")


def test_a_killed_workers_containers_are_removed_and_its_build_runs_again_once(
    client: Client,
    alice: Auth,
    marid: Marid,
    image: str,
    docker_worker: subprocess.Popen[bytes],
) -> None:
    owner = process_owner(docker_worker.pid)
    job = {"stage": "s", "name": "job", "commands": ["echo run", "sleep 5"]}
    created = submit(client, alice, manifest([job], driver={"type": "docker", "image": image}))
    until(lambda: running(owner), 30, "the dead-to-be worker's container to run")

    assert ours(owner)["volumes"]
    docker_worker.kill()  # SIGKILL: no cleanup, no command, the lease simply runs out
    docker_worker.wait()
    marid.start_worker(
        WorkerConfig("rescuer", lease=timedelta(seconds=2), sweep_interval=0.3), ("docker",)
    )
    until(lambda: nothing_left(owner), 5, "the dead worker's containers and volumes to go")
    result = finished(client, alice, 1, timeout=60)

    assert result["status"] == "passed"
    assert "orphaned" in result["tags"]
    assert event_count(marid, "Build.Claimed") == 2  # the dead worker's run, and one more
    assert job_output(marid, created["id"], "job") == "+ echo run\nrun\n+ sleep 5\n"
    until(nothing_left, 10, "the rerun's containers and volumes to go")


def test_marid_serve_runs_a_docker_build_end_to_end(image: str, tmp_path: Path) -> None:
    # MARID_DRIVERS is unset: a daemon answers, so docker is enabled with os.
    server = Server(tmp_path / "data", tmp_path / "serve.log", MARID_DOCKER_NETWORK="none")
    try:
        server.wait_until_up()
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        job = {"stage": "s", "commands": ["echo in a container > out.txt", "cat out.txt"]}
        text = manifest([job], driver={"type": "docker", "image": image})
        created = httpx.post(f"{server.url}/api/builds", json={"manifest": text}, headers=auth)
        assert created.status_code == 201, created.text

        def ended() -> dict[str, str] | None:
            body: dict[str, str] = httpx.get(f"{server.url}/api/b/admin/1", headers=auth).json()
            return body if body["status"] not in ("queued", "running") else None

        build = until(ended, 60, "the build to end")
        output = httpx.get(f"{server.url}/api/b/admin/1/jobs/s.1/output", headers=auth).text
        owner = process_owner(server.process.pid)
        until(lambda: nothing_left(owner), 10, "the build's containers and volumes to go")
    finally:
        code = server.stop()
        print(f"--- output of marid serve ---\n{server.output()}")
        stop_leftover_postgres(tmp_path / "data" / "postgres")

    assert build["status"] == "passed", output
    assert output.endswith("+ cat out.txt\nin a container\n")
    assert "docker: a container per job" in server.output()
    assert code == 0
