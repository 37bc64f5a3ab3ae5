"""Workers as real processes: `marid worker` killed mid-build and the build recovered by
another worker, and the worker inside `marid serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import SECRET_KEY, Users
from tests.e2e.test_serve import Server, stop_leftover_postgres
from tests.helpers import Auth, Client
from tests.worker_support import (
    finished,
    job_output,
    manifest,
    shared_dir,
    sleepers,
    submit,
    until,
)

pytestmark = pytest.mark.e2e

MARID = str(Path(sys.executable).with_name("marid"))


class WorkerProcess:
    """One `marid worker` process against the test database; output to a file."""

    def __init__(self, settings: Settings, name: str, log: Path, *args: str) -> None:
        assert settings.database_url is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARID_")}
        env |= {
            "MARID_DATABASE_URL": settings.database_url,
            "MARID_DATA_DIR": str(settings.data_dir),  # the blob store is shared
            "MARID_SECRET_KEY": SECRET_KEY,  # to open the build's sealed secrets
            "MARID_DB_POOL_SIZE": "2",
            "TMPDIR": str(log.parent),  # build directories a killed worker leaves behind
        }
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [MARID, "worker", "--name", name, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        until(lambda: self._started(), 30, f"worker {name} to start")

    def _started(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"marid worker exited: {self.log.read_text()}")
        return "Ctrl-C stops it" in self.log.read_text()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def alice(users: Users) -> Auth:
    return users.create("alice")[1]


@pytest.fixture
def shared() -> Iterator[Path]:
    """Files the test and its jobs (run as the build user) both reach."""
    with shared_dir() as path:
        yield path


@pytest.fixture
def workers(settings: Settings, shared: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(name: str, *args: str) -> WorkerProcess:
        # In `shared`: the build directories (TMPDIR) must be passable by the build user.
        worker = WorkerProcess(settings, name, shared / f"worker-{name}.log", *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
        print(f"--- output of marid worker ---\n{worker.log.read_text()}")


def test_a_build_whose_worker_was_killed_is_recovered_by_another_worker(
    client: Client,
    alice: Auth,
    marid: Marid,
    workers: Callable[..., WorkerProcess],
    shared: Path,
) -> None:
    mark = shared / "first-run"
    script = f"if [ -e {mark} ]; then echo second run; else touch {mark}; sleep 60.904; fi"
    first = workers("first", "--lease", "2s")
    created = submit(client, alice, manifest([{"stage": "s", "name": "job", "commands": [script]}]))
    try:
        until(lambda: sleepers("sleep 60.904"), 20, "the first run's job to start")

        first.kill()  # SIGKILL: no cleanup, no command, the lease simply runs out
        # Its job dies with it (the lifeline), so the build never runs twice at once.
        until(lambda: not sleepers("sleep 60.904"), 10, "the dead worker's job to end")
        second = workers("second", "--lease", "2s")
        result = finished(client, alice, 1, timeout=30)
    finally:
        for pid in sleepers("sleep 60.904"):  # only if the test failed before its end
            os.kill(pid, signal.SIGKILL)

    assert result["status"] == "passed"
    assert "orphaned" in result["tags"]
    assert (
        job_output(marid, created["id"], "job")
        == f"+ [ -e {mark} ]\n+ echo second run\nsecond run\n"
    )
    assert second.stop() == 0


def test_marid_serve_runs_builds_with_its_own_worker(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", tmp_path / "serve.log")
    try:
        server.wait_until_up()
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        text = manifest([{"stage": "s", "commands": ["echo from serve"]}])
        created = httpx.post(f"{server.url}/api/builds", json={"manifest": text}, headers=auth)
        assert created.status_code == 201, created.text

        def status() -> str | None:
            body = httpx.get(f"{server.url}/api/b/admin/1", headers=auth).json()
            return body["status"] if body["status"] not in ("queued", "running") else None

        final = until(status, 30, "the build to end")
    finally:
        code = server.stop()
        print(f"--- output of marid serve ---\n{server.output()}")
        stop_leftover_postgres(tmp_path / "data" / "postgres")

    assert final == "passed"
    assert code == 0
