"""The Docker daemon as the docker driver's workers see it: a client, whether one answers,
and what workers that died left in it.

Everything the driver makes carries the label `marid.owner`: the host (and PID namespace),
pid and start time of the worker process. A worker's sweep removes the containers and
volumes whose owner is a process of this host that is gone; another host's are left to
that host's workers.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

import docker
from docker.errors import DockerException, NotFound

log = logging.getLogger("marid.worker")
DEFAULT_HOST = "unix:///var/run/docker.sock"
OWNER = "marid.owner"  # the label on everything the driver makes
Errors = (DockerException, OSError)  # requests' errors are OSErrors


def connect(timeout: float = 120.0, env: Mapping[str, str] | None = None) -> Any:
    """A client for the daemon of `DOCKER_HOST` (default socket when unset)."""
    return docker.from_env(timeout=int(timeout), environment=env)


def daemon_answers(env: Mapping[str, str] | None = None) -> bool:
    """Whether a Docker daemon answers at `DOCKER_HOST` or the default socket."""
    host = (os.environ if env is None else env).get("DOCKER_HOST") or DEFAULT_HOST
    if host.startswith("unix://"):
        # Connect first ourselves: the SDK leaks the socket of a failed connect.
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(2)
            try:
                probe.connect(host.removeprefix("unix://"))
            except OSError:
                return False
    try:
        client = connect(2, env)
    except Errors:
        return False
    try:
        return bool(client.ping())
    except Errors:
        return False
    finally:
        client.close()


def explain(exc: BaseException) -> str:
    return str(getattr(exc, "explanation", None) or exc)


def process_owner(pid: int | None = None) -> str:
    """`host:pid:start`: this process, told apart from a later one that reuses its pid."""
    pid = os.getpid() if pid is None else pid
    return f"{_host()}:{pid}:{_start_time(pid)}"


def _host() -> str:
    """This host and PID namespace: where a pid names the same process as here (workers
    in containers of their own may share a host name, never a PID namespace)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace}"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux); "" when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_alive(owner: str) -> bool:
    """Whether the worker process named by an `OWNER` label may still run. Only processes
    on this host (and PID namespace) can be checked; others are assumed alive."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or parts[0] != _host():
        return True
    _, pid, start = parts
    if start:
        return _start_time(int(pid)) == start
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Leftovers:
    """Removes the containers and volumes of worker processes that are gone."""

    def __init__(self, api_timeout: float = 30.0) -> None:
        self.api_timeout = api_timeout
        self._failing = False  # warned once while the daemon is away; quiet until it is back

    def __call__(self) -> int:
        """Remove what dead workers left; how many things were removed. A connection per
        call: nothing to close."""
        try:
            client = connect(self.api_timeout)
            try:
                removed = self._remove(client.api)
            finally:
                client.close()
        except Errors as exc:
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "cannot remove leftover docker containers: %s", explain(exc))
            self._failing = True
            return 0
        self._failing = False
        return removed

    def _remove(self, api: Any) -> int:
        removed = 0
        for found in api.containers(all=True, filters={"label": OWNER}):
            if not owner_alive((found.get("Labels") or {}).get(OWNER, "")):
                with suppress(NotFound):
                    api.remove_container(found["Id"], force=True)
                    removed += 1
        for found in api.volumes(filters={"label": OWNER}).get("Volumes") or []:
            if not owner_alive((found.get("Labels") or {}).get(OWNER, "")):
                with suppress(NotFound):
                    api.remove_volume(found["Name"], force=True)
                    removed += 1
        if removed:
            log.info("removed %s docker containers and volumes of dead workers", removed)
        return removed
