"""The `os` driver: jobs run on the worker's own host, as the build user.

Who that is is decided when the worker starts (`build_user.choose`): a dedicated
unprivileged user when the worker is root, never root and never the owner of the data
directory. Each build gets a fresh directory holding its workspace, its HOME and its
TMPDIR (owned by the build user), and a clean environment: only the build's variables
plus PATH, HOME, LANG and TMPDIR. Each job runs in a process group (session) of its own,
under a supervisor that ends the group when the job ends or the worker dies; the whole
directory is removed when the build ends, whatever the build user left in it.

Files are placed (objects, keys: inside the build's directory only) and collected
(artifacts: any path the job could read, relative to the workspace or absolute) with the
build user's rights, through `user_files.py`.

This is not a sandbox: a build can do anything its user can (use the network, read files
that any user may read, see other builds running at the same time as the same user,
start processes that detach with `setsid`). Docker is the isolation for untrusted code.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from infrastructure.drivers import user_files
from infrastructure.drivers.base import (
    IDLE_TICK,
    KILL_GRACE,
    Cancel,
    DirectoryDriver,
    Driver,
    DriverError,
    Log,
    OnOutput,
    exit_status,
)
from infrastructure.drivers.build_user import BuildUser, decide
from infrastructure.settings import Settings

CHUNK = 64 * 1024
DRAIN_LIMIT = 1.0  # seconds to read what a finished job's leftovers still write


# The supervisor that ends a job when its worker dies; isolated (-I) and without site
# (-S): it needs only the standard library, and the job's environment must not reach it.
LIFELINE = (sys.executable, "-I", "-S", str(Path(__file__).with_name("lifeline.py")))
# Files placed and collected with the build user's rights (started like the supervisor).
USER_FILES = (sys.executable, "-I", "-S", str(Path(__file__).with_name("user_files.py")))
FILE_TIMEOUT = 60.0  # seconds for the helper to place a file or to end after a read


def os_factories(settings: Settings) -> dict[str, Callable[[Mapping[str, str]], Driver]]:
    """The os driver's factory, or none when it must not run here (see `build_user`)."""
    user = decide(settings.os_user, settings.os_allow_same_user, settings.data_dir)
    if isinstance(user, str):
        return {}
    return {"os": lambda config: OsDriver(config, user=user)}


def describe_os(settings: Settings) -> str:
    """One banner line: as whom the os driver runs jobs, or why it does not."""
    user = decide(settings.os_user, settings.os_allow_same_user, settings.data_dir)
    if isinstance(user, str):
        return f"os: not started: {user}"
    same = " (the worker's own user: trusted builds only)" if not user.switch else ""
    return f"os: jobs run on this host as user {user.name}{same}"


class OsDriver(DirectoryDriver):
    name = "os"

    def __init__(
        self,
        config: Mapping[str, str] | None = None,
        parent: str | None = None,
        user: BuildUser | None = None,
    ) -> None:
        super().__init__()
        self._parent = parent  # where build directories are made (default: the system temp)
        # None: the worker's own user (what MARID_OS_ALLOW_SAME_USER allows; tests).
        self.user = user or BuildUser.worker()

    def create(self, log: Log) -> None:
        log(f"Running with os driver as user {self.user.name}...")
        try:
            root = Path(os.path.realpath(tempfile.mkdtemp(prefix="marid-build-", dir=self._parent)))
        except OSError as exc:
            raise DriverError(f"cannot make a build directory: {exc}") from None
        self._root = str(root)  # from here on, destroy() removes it
        # The root and the scripts stay the worker's: the build user may pass and read
        # its scripts, not change them. Workspace, HOME and TMPDIR are the build user's.
        for name in ("workspace", "home", "tmp", "scripts"):
            (root / name).mkdir(mode=0o700)
            if self.user.switch and name != "scripts":
                os.chown(root / name, self.user.uid, self.user.gid)
        if self.user.switch:  # pass through, list nothing
            os.chmod(root, 0o711)  # noqa: S103 - traverse only, to the build user's dirs
            os.chmod(root / "scripts", 0o711)  # noqa: S103 - traverse only, scripts are 0644
        log(f"Created workspace {self.workspace}")

    def resolve(self, path: str) -> str:
        """Any path: relative to the workspace, or absolute (what the job itself would use)."""
        return os.path.normpath(os.path.join(self.workspace, path))

    def put_file(self, path: str, data: BinaryIO, mode: int = 0o644) -> None:
        """Write a file inside the build's directory, as the build user."""
        target = self.resolve(path)
        real, root = Path(os.path.realpath(target)), Path(self.root)
        if real != root and root not in real.parents:
            raise DriverError(f"{path} is outside the build's directory")
        _write_as(self.user, target, data, mode)

    def get_file(self, path: str) -> AbstractContextManager[Iterator[bytes]]:
        """Read a file the job could read (the build user's rights decide), wherever it is."""
        return _read_as(self.user, self.resolve(path))

    def run(self, script: str, env: Mapping[str, str], on_output: OnOutput, cancel: Cancel) -> int:
        script_path = Path(self.next_script() + ".sh")
        script_path.write_text(script)
        script_path.chmod(0o644)  # readable by the build user's shell
        # The job dies with this worker: see lifeline.py (only we hold `lifeline`).
        watched, lifeline = os.pipe()
        try:
            process = subprocess.Popen(  # noqa: S603 - our own shell on our own script
                [*LIFELINE, str(watched), self.user.spec, "/bin/sh", str(script_path)],
                cwd=self.workspace,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: one signal reaches the tree
                pass_fds=(watched,),
            )
        except BaseException:
            os.close(lifeline)
            raise
        finally:
            os.close(watched)
        try:
            return _follow(process, on_output, cancel)
        finally:
            _end(process)
            os.close(lifeline)

    def destroy(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, onerror=_make_writable_and_retry)
            self._root = None


def _follow(process: subprocess.Popen[bytes], on_output: OnOutput, cancel: Cancel) -> int:
    """Stream the job's output until its shell exits; stop its group when cancelled."""
    assert process.stdout is not None  # stdout=PIPE above
    fd = process.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    term_at: float | None = None
    killed = False
    try:
        while not _exited(process.pid):
            if cancel.is_set() and term_at is None:
                _signal_group(process.pid, signal.SIGTERM)
                term_at = time.monotonic()
            if term_at is not None and not killed and time.monotonic() - term_at > KILL_GRACE:
                _signal_group(process.pid, signal.SIGKILL)
                killed = True
            if not _read_some(selector, fd, on_output):
                time.sleep(IDLE_TICK)  # the pipe is closed; wait for the shell itself
        # The shell is done (a zombie, not yet reaped, so its group id cannot be reused):
        # end what it left running in its group, then read what is left in the pipe.
        _signal_group(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + DRAIN_LIMIT
        while time.monotonic() < deadline and _read_some(selector, fd, on_output):
            pass
    finally:
        selector.close()
    return exit_status(process.wait())


def _read_some(selector: selectors.BaseSelector, fd: int, on_output: OnOutput) -> bool:
    """Pass on what the pipe holds within one tick (b"" when quiet); False at EOF."""
    if not selector.select(IDLE_TICK):
        on_output(b"")
        return True
    data = os.read(fd, CHUNK)
    if not data:
        return False
    on_output(data)
    return True


def _exited(pid: int) -> bool:
    """Whether the process has exited, without reaping it."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _end(process: subprocess.Popen[bytes]) -> None:
    """After an error in `_follow`: make sure the job's group is gone and reaped."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _write_as(user: BuildUser, path: str, data: BinaryIO, mode: int) -> None:
    helper = subprocess.Popen(  # noqa: S603 - our own helper, a path inside the build
        [*USER_FILES, "put", user.spec, path, f"{mode:o}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={},
    )
    assert helper.stdin is not None  # PIPE above
    assert helper.stderr is not None
    try:
        with suppress(BrokenPipeError):  # the helper failed: its stderr says why
            shutil.copyfileobj(data, helper.stdin, CHUNK)
        helper.stdin.close()
        reason = helper.stderr.read().decode(errors="replace").strip()
        status = helper.wait(FILE_TIMEOUT)
    finally:
        _reap(helper)
    if status != 0:
        raise DriverError(f"cannot write {path}: {reason or f'exit status {status}'}")


@contextmanager
def _read_as(user: BuildUser, path: str) -> Iterator[Iterator[bytes]]:
    """The file's chunks as the build user reads them; `FileNotFoundError` when there is
    no regular file there, `DriverError` when the build user may not read it."""
    helper = subprocess.Popen(  # noqa: S603 - our own helper; the path is only read
        [*USER_FILES, "get", user.spec, path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={},
    )
    assert helper.stdout is not None  # PIPE above
    assert helper.stderr is not None
    out, err = helper.stdout, helper.stderr

    def failed() -> tuple[int, str]:
        reason = err.read().decode(errors="replace").strip()
        return helper.wait(FILE_TIMEOUT), reason

    def chunks() -> Iterator[bytes]:
        while data := out.read(CHUNK):
            yield data
        status, reason = failed()
        if status != 0:
            raise DriverError(f"reading {path} failed: {reason or f'exit status {status}'}")

    try:
        if out.read(1) != b"+":
            status, reason = failed()
            if status == user_files.NOT_FOUND:
                raise FileNotFoundError(reason)
            raise DriverError(reason or f"cannot read {path}: exit status {status}")
        yield chunks()
    finally:
        _reap(helper)


def _reap(helper: subprocess.Popen[bytes]) -> None:
    """However a file transfer ended: the helper is gone and its pipes closed."""
    if helper.poll() is None:
        helper.kill()
        helper.wait()
    for pipe in (helper.stdin, helper.stdout, helper.stderr):
        if pipe is not None:
            pipe.close()


def _make_writable_and_retry(func: Callable[..., Any], path: str, _: object) -> None:
    """rmtree's error hook: a build may have made files or directories read-only (a root
    worker removes the build user's files regardless)."""
    with suppress(OSError):
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        func(path)
