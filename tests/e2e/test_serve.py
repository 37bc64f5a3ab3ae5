"""`marid serve` as a real process on its embedded PostgreSQL, driven over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from infrastructure.drivers.docker_daemon import daemon_answers

pytestmark = pytest.mark.e2e

MARID = str(Path(sys.executable).with_name("marid"))
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """One `marid serve` process; its output goes to a file so that no pipe can fill up."""

    def __init__(self, data_dir: Path, log: Path, **settings: str) -> None:
        """`settings`: more `MARID_*` variables for it."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARID_")}
        env["MARID_DATA_DIR"] = str(data_dir)
        env.update(settings)
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [MARID, "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_until_up(self) -> None:
        """Poll the port until the API answers; fail early if the process dies."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"marid serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/version", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"marid serve did not answer on port {self.port} in {START_TIMEOUT}s")

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; kill if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[Path], Server]]:
    """Starts servers; always stops them and prints their output (shown when a test fails)."""
    servers: list[Server] = []

    def launch(data_dir: Path) -> Server:
        server = Server(data_dir, tmp_path / f"serve-{len(servers) + 1}.log")
        servers.append(server)
        server.wait_until_up()
        return server

    yield launch
    for number, server in enumerate(servers, 1):
        server.stop()
        print(f"--- output of marid serve #{number} ---\n{server.output()}")
    stop_leftover_postgres(tmp_path / "data" / "postgres")


def stop_leftover_postgres(pgdata: Path) -> None:
    """If a failed test left the embedded PostgreSQL running, ask it to shut down."""
    pid_file = pgdata / "postmaster.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # fast shutdown


def test_first_start_creates_admin_token_and_later_starts_point_at_its_file(
    start: Callable[[Path], Server], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    token_file = data_dir / "admin-token"

    first = start(data_dir)
    token = token_file.read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{first.url}/api/namespaces", json={"name": "proj"}, headers=auth)
    first_status = first.stop()
    second = start(data_dir)
    fetched = httpx.get(f"{second.url}/api/n/admin/proj", headers=auth)
    second_status = second.stop()

    first_output, second_output = first.output(), second.output()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert first_output.count(token) == 2, first_output  # the token, and in the curl example
    assert f"curl -H 'Authorization: Bearer {token}' {first.url}/api/user" in first_output
    assert "marid: builds run here with os" in first_output
    # MARID_DRIVERS is unset: docker runs builds exactly when a Docker daemon answers.
    assert ("docker: a container per job" in first_output) == daemon_answers()
    assert created.status_code == 201, created.text
    assert created.json()["user"]["username"] == "admin"
    assert f"the admin token is in {token_file}" in second_output
    assert token not in second_output
    assert fetched.status_code == 200, fetched.text
    assert (first_status, second_status) == (0, 0)
    assert (data_dir / "postgres" / "PG_VERSION").exists()  # the embedded PostgreSQL
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # and stopped with marid
