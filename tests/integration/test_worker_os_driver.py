"""The `os` driver on its own: confinement of files, odd artifacts, stopping, cleanup."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.drivers import DriverError
from infrastructure.drivers.base import Cancel, job_script
from infrastructure.drivers.os import OsDriver
from tests.worker_support import sleepers


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[OsDriver]:
    made = OsDriver(parent=str(tmp_path))
    made.create(lambda _: None)
    yield made
    made.destroy()


def run(driver: OsDriver, *commands: str, cancel: Cancel | None = None) -> tuple[int, str]:
    chunks: list[bytes] = []
    code = driver.run(
        job_script(list(commands)), driver.base_env(), chunks.append, cancel or Cancel()
    )
    return code, b"".join(chunks).decode()


def test_jobs_get_a_clean_environment_and_their_own_home(driver: OsDriver) -> None:
    code, out = run(driver, "env | cut -d= -f1 | sort | tr '\\n' ' '", "pwd", 'echo "$HOME"')

    assert code == 0
    assert "HOME LANG PATH PWD TMPDIR " in out
    assert f"\n{driver.workspace}\n" in out
    assert out.endswith(f"{driver.home}\n")


def test_exit_status_is_the_scripts(driver: OsDriver) -> None:
    assert run(driver, "exit 42")[0] == 42
    assert run(driver, "true")[0] == 0


@pytest.mark.parametrize("path", ["../../outside", "/etc/marid-test", "/var/marid-test"])
def test_files_outside_the_build_directory_are_refused(driver: OsDriver, path: str) -> None:
    with pytest.raises(DriverError, match="outside the build's directory"):
        driver.put_file(path, io.BytesIO(b"x"))


def test_a_symlink_out_of_the_workspace_is_not_followed(driver: OsDriver, tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("not for artifacts")
    run(driver, f"ln -s {secret} link.txt")

    with pytest.raises(DriverError), driver.get_file("link.txt"):
        pass


def test_a_fifo_as_artifact_is_not_a_file_and_does_not_hang(driver: OsDriver) -> None:
    run(driver, "mkfifo pipe")

    with pytest.raises(FileNotFoundError), driver.get_file("pipe"):
        pass


def test_files_are_placed_with_their_mode_and_read_back(driver: OsDriver) -> None:
    driver.put_file(f"{driver.home}/.ssh/key", io.BytesIO(b"secret\n"), 0o600)

    code, out = run(driver, 'stat -c %a "$HOME/.ssh/key"')
    with driver.get_file(f"{driver.home}/.ssh/key") as chunks:
        content = b"".join(chunks)

    assert (code, out.splitlines()[-1]) == (0, "600")
    assert content == b"secret\n"


def test_a_cancelled_job_stops_its_whole_process_group(driver: OsDriver) -> None:
    cancel = Cancel()
    threading.Timer(0.5, cancel.set, ("killed",)).start()
    started = time.monotonic()

    code, _ = run(driver, "sleep 60.611 & sleep 60.612", cancel=cancel)

    assert time.monotonic() - started < 3
    assert code == 128 + 15  # SIGTERM
    assert not sleepers("sleep 60.61")


def test_a_job_that_ignores_sigterm_is_killed_after_the_grace(driver: OsDriver) -> None:
    cancel = Cancel()
    threading.Timer(0.3, cancel.set, ("killed",)).start()

    code, _ = run(driver, "trap '' TERM", "sleep 60.613", cancel=cancel)

    assert code == 128 + 9  # SIGKILL
    assert not sleepers("sleep 60.613")


def test_processes_a_job_leaves_running_end_with_it(driver: OsDriver) -> None:
    code, _ = run(driver, "sleep 60.614 &", "echo done")

    assert code == 0
    assert not sleepers("sleep 60.614")


def test_destroy_removes_everything_even_read_only_directories(tmp_path: Path) -> None:
    driver = OsDriver(parent=str(tmp_path))
    driver.create(lambda _: None)
    root = driver.root
    run(driver, "mkdir -p ro/deep && touch ro/deep/f && chmod -w ro/deep ro")

    driver.destroy()

    assert not root.exists()
    assert os.listdir(tmp_path) == []


def test_a_job_dies_with_its_worker(tmp_path: Path) -> None:
    """A worker killed outright (SIGKILL, no cleanup) takes its running job with it."""
    marker = "sleep 59.731"
    program = f"""
import sys
from infrastructure.drivers.base import Cancel, job_script
from infrastructure.drivers.os import OsDriver
driver = OsDriver(parent={str(tmp_path)!r})
driver.create(lambda line: None)
driver.run(job_script(["{marker} & {marker}"]), driver.base_env(), lambda data: None, Cancel())
"""
    worker = subprocess.Popen([sys.executable, "-c", program])
    try:
        deadline = time.monotonic() + 20
        while len(sleepers(marker)) < 2:
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        worker.kill()
        worker.wait()
        deadline = time.monotonic() + 10
        while sleepers(marker):
            assert time.monotonic() < deadline, "the job outlived its worker"
            time.sleep(0.05)
    finally:
        worker.kill()
        for pid in sleepers(marker):
            os.kill(pid, signal.SIGKILL)


def test_exit_statuses_and_signals_pass_through_the_lifeline(driver: OsDriver) -> None:
    assert run(driver, "exit 7")[0] == 7
    status, output = run(driver, "echo before", "kill -TERM $$")
    assert status != 0
    assert "before" in output
