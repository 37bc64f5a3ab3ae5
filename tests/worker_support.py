"""What the worker tests share: manifests, waiting for builds to end, a real sshd."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml

from domain.builds import FINISHED
from infrastructure.bootstrap import Marid
from tests.helpers import Auth, Client

SSHD = "/usr/sbin/sshd"


def manifest(
    jobs: list[dict[str, Any]],
    *,
    stages: list[str] | None = None,
    driver: dict[str, str] | None = None,
    **fields: Any,
) -> str:
    """A manifest whose stages default to those of its jobs, in order of appearance."""
    body: dict[str, Any] = {"driver": driver or {"type": "os"}}
    body.update(fields)
    body["stages"] = stages or list(dict.fromkeys(job["stage"] for job in jobs))
    body["jobs"] = jobs
    return yaml.safe_dump(body, sort_keys=False)


def submit(client: Client, auth: Auth, text: str, **body: Any) -> dict[str, Any]:
    response = client.post("/api/builds", json={"manifest": text, **body}, headers=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy (a worker runs on its own time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def build_json(client: Client, auth: Auth, number: int, user: str = "alice") -> dict[str, Any]:
    response = client.get(f"/api/b/{user}/{number}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def finished(
    client: Client, auth: Auth, number: int, timeout: float = 30.0, user: str = "alice"
) -> dict[str, Any]:
    """The build once it has ended."""

    def ended() -> dict[str, Any] | None:
        body = build_json(client, auth, number, user)
        return body if body["status"] in FINISHED else None

    result: dict[str, Any] = until(ended, timeout, f"build {user}/{number} to end")
    return result


def jobs(client: Client, auth: Auth, number: int, user: str = "alice") -> dict[str, Any]:
    """The build's jobs by name."""
    response = client.get(f"/api/b/{user}/{number}/jobs", headers=auth)
    assert response.status_code == 200, response.text
    return {job["name"]: job for job in response.json()}


def job_ids(marid: Marid, build_id: int) -> dict[str, int]:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT name, id FROM build_jobs WHERE build_id = %s", (build_id,))
        return {row["name"]: int(row["id"]) for row in curs.fetchall()}


def job_output(marid: Marid, build_id: int, name: str) -> str:
    return marid.build_logs.text(build_id, job_ids(marid, build_id)[name])


def all_output(marid: Marid) -> list[str]:
    """Every stored chunk of every build's output."""
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT data FROM marid_build_output ORDER BY seq")
        return [str(row["data"]) for row in curs.fetchall()]


def event_count(marid: Marid, topic_suffix: str) -> int:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT count(*) AS n FROM marid_events WHERE topic LIKE %s", (f"%{topic_suffix}",)
        )
        row = curs.fetchone()
    return int(row["n"]) if row else 0


def events_of(marid: Marid, originator_id: UUID) -> list[str]:
    """The topics of one aggregate's events, in order."""
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT topic FROM marid_events WHERE originator_id = %s ORDER BY notification_id",
            (originator_id,),
        )
        return [str(row["topic"]) for row in curs.fetchall()]


def sleepers(tag: str) -> list[int]:
    """Pids of live processes whose command line holds `tag` (a job's `sleep <unique>`)."""
    out = subprocess.run(
        ["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True, check=True
    )
    found = []
    for line in out.stdout.splitlines():
        pid, state, args = line.split(None, 2)
        if tag in args and not state.startswith("Z"):  # zombies are already dead
            found.append(int(pid))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Sshd:
    """A real OpenSSH server on 127.0.0.1 with its own host key and one client key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.user = (
            os.environ.get("USER")
            or subprocess.run(
                ["id", "-un"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        self.host_key = directory / "host_key"
        self.client_key = directory / "client_key"
        self.log = directory / "sshd.log"
        for key in (self.host_key, self.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
        (directory / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        config = directory / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {directory}/authorized_keys\nPidFile {directory}/sshd.pid\n"
            "UsePAM no\nPermitRootLogin yes\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        self._wait_until_listening()

    def known_hosts_line(self) -> str:
        key = Path(f"{self.host_key}.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {key[0]} {key[1]}\n"

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"sshd exited: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"sshd did not listen: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def require_sshd() -> None:
    """In CI (MARID_TEST_DATABASE_URL set) sshd must exist: fail, never skip."""
    if os.path.exists(SSHD) and shutil.which("ssh-keygen"):
        return
    if os.environ.get("MARID_TEST_DATABASE_URL"):
        pytest.fail(f"{SSHD} or ssh-keygen is missing; .ci/run installs openssh-server")
    pytest.skip(f"{SSHD} is not installed (apt-get install openssh-server)")


@contextmanager
def shared_dir() -> Iterator[Path]:
    """A directory under the system temp that a job's build user may use too (the pytest
    `tmp_path` is private to the user running the tests)."""
    path = Path(tempfile.mkdtemp(prefix="marid-test-"))
    path.chmod(0o777)  # a scratch directory shared with the build user
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def require_root() -> None:
    """Running jobs as the build user needs a root worker; in CI tests run as root: fail,
    never skip."""
    if os.geteuid() == 0:
        return
    if os.environ.get("MARID_TEST_DATABASE_URL"):
        pytest.fail("the os driver's build-user tests need root (CI runs them as root)")
    pytest.skip("the os driver switches to its build user only when the worker is root")
