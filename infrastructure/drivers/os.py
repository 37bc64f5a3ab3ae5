"""The `os` driver: jobs run on the worker's own host, as the worker's user.

Each build gets a fresh private directory (mode 0700) holding its workspace, its HOME and
its TMPDIR, and a clean environment: only the build's variables plus PATH, HOME, LANG and
TMPDIR. Files may only be placed or collected inside that directory. Each job runs in a
process group (session) of its own, so that stopping it stops everything it started;
whatever the job leaves running in its group is ended when the job ends, and the whole
directory is removed when the build ends.

This is not a sandbox: a build can do anything the worker's user can (read its files, use
its network, start processes that detach with `setsid`). Enable it only for trusted code.
"""

from __future__ import annotations

import getpass
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from infrastructure.drivers.base import (
    IDLE_TICK,
    KILL_GRACE,
    Cancel,
    Driver,
    DriverError,
    Log,
    OnOutput,
    exit_status,
)

CHUNK = 64 * 1024
DRAIN_LIMIT = 1.0  # seconds to read what a finished job's leftovers still write


# The supervisor that ends a job when its worker dies; isolated (-I) and without site
# (-S): it needs only the standard library, and the job's environment must not reach it.
LIFELINE = (sys.executable, "-I", "-S", str(Path(__file__).with_name("lifeline.py")))


class OsDriver(Driver):
    name = "os"

    def __init__(self, config: Mapping[str, str] | None = None, parent: str | None = None) -> None:
        self._parent = parent  # where build directories are made (default: the system temp)
        self._root: Path | None = None
        self._jobs = 0

    @property
    def root(self) -> Path:
        if self._root is None:
            raise DriverError("the os driver has not been created")
        return self._root

    @property
    def workspace(self) -> str:
        return str(self.root / "workspace")

    @property
    def home(self) -> str:
        return str(self.root / "home")

    def create(self, log: Log) -> None:
        log(f"Running with os driver as user {getpass.getuser()}...")
        try:
            root = Path(os.path.realpath(tempfile.mkdtemp(prefix="marid-build-", dir=self._parent)))
        except OSError as exc:
            raise DriverError(f"cannot make a build directory: {exc}") from None
        self._root = root  # from here on, destroy() removes it
        for name in ("workspace", "home", "tmp", "scripts"):
            (root / name).mkdir(mode=0o700)
        log(f"Created workspace {self.workspace}")

    def base_env(self) -> dict[str, str]:
        return {**super().base_env(), "TMPDIR": str(self.root / "tmp")}

    def resolve(self, path: str) -> str:
        target = Path(path) if os.path.isabs(path) else Path(self.workspace) / path
        real = Path(os.path.realpath(target))
        if real != self.root and self.root not in real.parents:
            raise DriverError(f"{path} is outside the build's directory")
        return str(real)

    def put_file(self, path: str, data: BinaryIO, mode: int = 0o644) -> None:
        target = Path(self.resolve(path))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
            with os.fdopen(os.open(target, flags, mode), "wb") as out:
                shutil.copyfileobj(data, out, CHUNK)
            os.chmod(target, mode)
        except OSError as exc:
            raise DriverError(f"cannot write {path}: {exc.strerror or exc}") from None

    def get_file(self, path: str) -> AbstractContextManager[Iterator[bytes]]:
        return _read_regular_file(self.resolve(path))

    def run(self, script: str, env: Mapping[str, str], on_output: OnOutput, cancel: Cancel) -> int:
        self._jobs += 1
        script_path = self.root / "scripts" / f"job-{self._jobs}.sh"
        script_path.write_text(script)
        # The job dies with this worker: see lifeline.py (only we hold `lifeline`).
        watched, lifeline = os.pipe()
        try:
            process = subprocess.Popen(  # noqa: S603 - our own shell on our own script
                [*LIFELINE, str(watched), "/bin/sh", str(script_path)],
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


@contextmanager
def _read_regular_file(path: str) -> Iterator[Iterator[bytes]]:
    # O_NONBLOCK: opening a FIFO a build left behind must not hang the worker.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        yield iter(lambda: f.read(CHUNK), b"")


def _make_writable_and_retry(func: Callable[..., Any], path: str, _: object) -> None:
    """rmtree's error hook: a build may have made files or directories read-only."""
    with suppress(OSError):
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        func(path)
