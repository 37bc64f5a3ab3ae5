"""The build driver port: where and how a build's jobs run.

A worker makes one driver per build and calls, in order:

1. `create(log)` — prepare the environment (a temp directory, an SSH session, later a
   container or VM); `log` takes human-readable lines for the build's log. Raises
   `DriverError` when the environment cannot be made (the build then fails).
2. `put_file(path, data, mode)` — place objects and keys before the jobs run.
3. `run(script, env, on_output, cancel)` — once per job: run a shell script in the
   workspace with exactly `env` as its environment; stream its combined stdout/stderr to
   `on_output` as it is produced (and call `on_output(b"")` at least every
   `IDLE_TICK` seconds while the job is quiet, so the caller can flush); when `cancel`
   is set, stop the job's whole process tree at once. Returns the exit status.
4. `get_file(path)` — read an artifact after its job (`FileNotFoundError` if missing).
5. `destroy()` — remove everything the build made; always called, even after failures,
   and safe to call after a failed `create`.

Paths given to `put_file`/`get_file` are relative to the workspace unless absolute;
`resolve` gives the absolute path. An artifact may come from any path the job could read;
the `os` driver places files only inside the build's own directory, and moves both with
the build user's rights. `home` is the build's HOME: SSH keys go to `<home>/.ssh`.

A new driver (docker, qemu) implements this class and registers a factory in
`infrastructure/drivers/__init__.py`.
"""

from __future__ import annotations

import posixpath
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import BinaryIO

IDLE_TICK = 0.1  # seconds between `on_output(b"")` calls while a job is quiet
KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL when a job is stopped
PATH = "/usr/local/bin:/usr/bin:/bin"
LANG = "C.UTF-8"

Log = Callable[[str], None]
OnOutput = Callable[[bytes], None]


class DriverError(Exception):
    """Raised when a driver cannot create its environment or move a file."""


class Cancel:
    """Why a running build must stop, once decided: the first reason wins.

    Reasons: `killed` (a user asked), `timed_out` (the worker's limit), `lost` (another
    worker holds the build now), `shutdown` (this worker is stopping).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
                self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


def job_script(commands: list[str]) -> str:
    """One job as one shell script: stderr into stdout, trace each command, stop at the
    first failure (Djinn's script, byte for byte)."""
    return "#!/bin/sh\nexec 2>&1\nset -ex\n\n" + "".join(f"{c}\n" for c in commands)


def exit_status(returncode: int) -> int:
    """A shell-style exit status: a process ended by signal N gives 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class Driver(ABC):
    """One build's environment. Implementations must be safe to `destroy` at any point."""

    name: str = ""

    @property
    @abstractmethod
    def workspace(self) -> str:
        """The directory jobs start in (valid after `create`)."""

    @property
    @abstractmethod
    def home(self) -> str:
        """The build's HOME (valid after `create`)."""

    @abstractmethod
    def create(self, log: Log) -> None: ...

    def base_env(self) -> dict[str, str]:
        """The environment every job starts from; build variables are added to it."""
        return {"PATH": PATH, "HOME": self.home, "LANG": LANG}

    @abstractmethod
    def resolve(self, path: str) -> str:
        """The absolute path a workspace-relative or absolute `path` names."""

    @abstractmethod
    def put_file(self, path: str, data: BinaryIO, mode: int = 0o644) -> None:
        """Write `data` at `path`, making parent directories."""

    @abstractmethod
    def get_file(self, path: str) -> AbstractContextManager[Iterator[bytes]]:
        """The chunks of the regular file at `path`; `FileNotFoundError` if there is none."""

    @abstractmethod
    def run(
        self, script: str, env: Mapping[str, str], on_output: OnOutput, cancel: Cancel
    ) -> int: ...

    @abstractmethod
    def destroy(self) -> None: ...


class DirectoryDriver(Driver):
    """A driver whose build lives in one directory (`root`, made by `create`) holding
    `workspace`, `home`, `tmp` and the job `scripts`: the os and ssh drivers."""

    def __init__(self) -> None:
        self._root: str | None = None
        self._jobs = 0

    @property
    def root(self) -> str:
        if self._root is None:
            raise DriverError(f"the {self.name} driver has not been created")
        return self._root

    @property
    def workspace(self) -> str:
        return posixpath.join(self.root, "workspace")

    @property
    def home(self) -> str:
        return posixpath.join(self.root, "home")

    def base_env(self) -> dict[str, str]:
        return {**super().base_env(), "TMPDIR": posixpath.join(self.root, "tmp")}

    def next_script(self) -> str:
        """The path, without an extension, of the next job's script."""
        self._jobs += 1
        return posixpath.join(self.root, "scripts", f"job-{self._jobs}")
