"""A `marid worker` running docker builds, killed outright mid-build: what it left in Docker
is removed by the next worker's sweep, and the build runs again, once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from infrastructure.bootstrap import Marid
from infrastructure.drivers.docker_daemon import process_owner
from infrastructure.settings import Settings
from infrastructure.worker import WorkerConfig
from tests.conftest import SECRET_KEY, Users
from tests.docker_support import ensure_image, nothing_left, ours, require_docker, running
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

    docker_worker.kill()  # SIGKILL: no cleanup, no command, the lease simply runs out
    docker_worker.wait()
    left = ours(owner)
    marid.start_worker(
        WorkerConfig("rescuer", lease=timedelta(seconds=2), sweep_interval=0.3), ("docker",)
    )
    until(lambda: nothing_left(owner), 5, "the dead worker's containers and volumes to go")
    result = finished(client, alice, 1, timeout=60)

    assert left["containers"]  # it did leave them behind
    assert left["volumes"]
    assert result["status"] == "passed"
    assert "orphaned" in result["tags"]
    assert event_count(marid, "Build.Claimed") == 2  # the dead worker's run, and one more
    assert job_output(marid, created["id"], "job") == "+ echo run\nrun\n+ sleep 5\n"
    until(nothing_left, 10, "the rerun's containers and volumes to go")
