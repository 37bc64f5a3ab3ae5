"""The ssh driver against a real OpenSSH server on 127.0.0.1: builds end to end through the
API, stopping remote jobs, and the host-key policies."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from infrastructure.bootstrap import Marid
from infrastructure.drivers import DriverError
from infrastructure.drivers.base import Cancel, job_script
from infrastructure.drivers.ssh import SshDriver, SshOptions, parse_address
from infrastructure.settings import Settings
from infrastructure.worker import Worker, WorkerConfig
from tests.conftest import Users
from tests.helpers import Auth, Client
from tests.worker_support import (
    Sshd,
    all_output,
    finished,
    job_output,
    jobs,
    manifest,
    require_sshd,
    sleepers,
    submit,
    until,
)

SECRET = "ssh-s3cr3t-value"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    require_sshd()
    directory = tmp_path / "sshd"
    directory.mkdir()
    server = Sshd(directory)
    yield server
    server.stop()


@pytest.fixture
def known_hosts(sshd: Sshd, tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line())
    return path


@pytest.fixture
def settings(settings: Settings, sshd: Sshd, known_hosts: Path) -> Settings:
    return replace(
        settings,
        drivers=("os", "ssh"),
        ssh_user=sshd.user,
        ssh_key=str(sshd.client_key),
        ssh_known_hosts=str(known_hosts),
        ssh_host_key_policy="reject",
    )


@pytest.fixture
def alice(users: Users) -> Auth:
    return users.create("alice")[1]


@pytest.fixture
def worker(marid: Marid) -> Worker:
    config = WorkerConfig(
        "ssh-test", timeout=timedelta(seconds=60), lease=timedelta(seconds=3), sweep_interval=0.3
    )
    return marid.start_worker(config)


def options(sshd: Sshd, known_hosts: Path, policy: str = "reject") -> SshOptions:
    return SshOptions(
        user=sshd.user,
        key=str(sshd.client_key),
        known_hosts=str(known_hosts),
        host_key_policy=policy,
        connect_timeout=5,
    )


def test_a_build_runs_through_the_ssh_driver(
    client: Client, alice: Auth, marid: Marid, sshd: Sshd, worker: Worker
) -> None:
    assert client.post(
        "/api/variables", json={"key": "TOKEN", "value": SECRET, "mask": True}, headers=alice
    ).is_success
    upload = client.post(
        "/api/objects", params={"name": "input.txt"}, content=b"remote object\n", headers=alice
    )
    assert upload.status_code == 201, upload.text
    commands = [
        'echo "token $TOKEN"',
        "cat in/input.txt",
        "echo artifact > made.txt",
        'test "$(pwd)" != "$HOME"',
        "echo \"$(env | cut -d= -f1 | sort | tr '\\n' ' ')\"",
    ]
    text = manifest(
        [{"stage": "s", "commands": commands, "artifacts": ["made.txt", "absent.txt"]}],
        driver={"type": "ssh", "address": sshd.address},
        objects=["input.txt => in/input.txt"],
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    build_log = str(result["output"])  # the whole log: setup, then each job
    assert result["status"] == "passed", build_log
    output = job_output(marid, created["id"], "s.1")
    assert "token xxxxxx\n" in output
    assert "remote object\n" in output
    assert "HOME LANG PATH PWD TMPDIR TOKEN \n" in output  # a clean environment
    assert not any(SECRET in chunk for chunk in all_output(marid))
    found = {a["name"]: a for a in client.get("/api/b/alice/1/artifacts", headers=alice).json()}
    assert found["made.txt"]["sha256"] == hashlib.sha256(b"artifact\n").hexdigest()
    assert found["absent.txt"]["size"] is None
    assert f"Connecting to {sshd.address} as {sshd.user}" in build_log
    workspace = build_log.split("Created workspace ", 1)[1].split(" on ", 1)[0]
    assert not Path(workspace).exists()  # the remote directory is removed afterwards


def test_killing_an_ssh_build_stops_the_remote_process_group(
    client: Client, alice: Auth, sshd: Sshd, worker: Worker
) -> None:
    text = manifest(
        [{"stage": "s", "name": "long", "commands": ["sleep 60.377 & sleep 60.378"]}],
        driver={"type": "ssh", "address": sshd.address},
    )
    submit(client, alice, text)
    until(lambda: len(sleepers("sleep 60.37")) == 2, 15, "the remote sleeps to start")

    assert client.delete("/api/b/alice/1", headers=alice).status_code == 204
    result = finished(client, alice, 1, timeout=15)

    assert result["status"] == "killed"
    assert jobs(client, alice, 1)["long"]["status"] == "killed"
    until(lambda: not sleepers("sleep 60.37"), 5, "the remote sleeps to end")


def test_an_unreachable_ssh_host_fails_the_build_at_create_driver(
    client: Client, alice: Auth, marid: Marid, worker: Worker
) -> None:
    text = manifest(
        [{"stage": "s", "commands": ["true"]}], driver={"type": "ssh", "address": "127.0.0.1:1"}
    )

    created = submit(client, alice, text)
    result = finished(client, alice, 1)

    assert result["status"] == "failed"
    found = jobs(client, alice, 1)
    assert (found["create-driver"]["status"], found["s.1"]["status"]) == ("failed", "failed")
    assert "Failed to create driver: cannot connect to 127.0.0.1:1" in job_output(
        marid, created["id"], "create-driver"
    )


def another_public_key(directory: Path) -> str:
    path = directory / "another_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    kind, key = Path(f"{path}.pub").read_text().split()[:2]
    return f"{kind} {key}"


def test_the_reject_policy_refuses_an_unknown_host(sshd: Sshd, tmp_path: Path) -> None:
    driver = SshDriver({"address": sshd.address}, options(sshd, tmp_path / "empty"))

    with pytest.raises(DriverError, match="cannot connect"):
        driver.create(lambda _: None)
    driver.destroy()


def test_accept_new_records_an_unknown_host_and_then_trusts_only_that_key(
    sshd: Sshd, tmp_path: Path
) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    first = SshDriver({"address": sshd.address}, options(sshd, known, "accept-new"))
    first.create(lambda _: None)
    first.destroy()
    recorded = known.read_text()
    known.write_text(f"[127.0.0.1]:{sshd.port} {another_public_key(tmp_path)}\n")  # changed
    second = SshDriver({"address": sshd.address}, options(sshd, known, "accept-new"))

    with pytest.raises(DriverError, match="does not match"):
        second.create(lambda _: None)
    second.destroy()
    assert recorded.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")


def test_ignore_accepts_any_host_key_and_records_none(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "never-written"
    driver = SshDriver({"address": sshd.address}, options(sshd, known, "ignore"))

    driver.create(lambda _: None)
    out: list[bytes] = []
    status = driver.run(job_script(["exit 7"]), driver.base_env(), out.append, Cancel())
    driver.destroy()

    assert status == 7
    assert not known.exists()


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("example.com", ("example.com", 22)),
        ("example.com:2222", ("example.com", 2222)),
        ("[::1]:2200", ("::1", 2200)),
        ("::1", ("::1", 22)),
    ],
)
def test_addresses_are_host_and_optional_port(address: str, parsed: tuple[str, int]) -> None:
    assert parse_address(address) == parsed


@pytest.mark.parametrize("address", ["", "host:0", "host:http", "[::1]:99999"])
def test_bad_addresses_are_driver_errors(address: str) -> None:
    with pytest.raises(DriverError):
        parse_address(address)


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_remote_job_dies_with_its_worker(sshd: Sshd, tmp_path: Path) -> None:
    """The worker's connection ends abruptly (as when it is SIGKILLed): the job it started
    on the host is gone within seconds, rather than running on beside the build's rerun."""
    driver = SshDriver({"address": sshd.address}, options(sshd, tmp_path / "kh", "ignore"))
    driver.create(lambda _: None)
    pid_file = Path(driver.workspace) / "job.pid"
    script = job_script(["echo $$ > job.pid", "exec sleep 300"])
    ended: list[object] = []

    def run() -> None:
        try:
            ended.append(driver.run(script, driver.base_env(), lambda _: None, Cancel()))
        except Exception as exc:  # the connection was cut under it
            ended.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    pid = int(until(lambda: pid_file.exists() and pid_file.read_text().strip(), 10, "the job"))
    try:
        assert alive(pid)
        driver._client.get_transport().sock.shutdown(socket.SHUT_RDWR)  # the worker died

        until(lambda: not alive(pid), 5, "the remote job to die with its worker")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        runner.join(10)
        with suppress(Exception):
            driver.destroy()
