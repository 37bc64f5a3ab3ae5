"""The `docker` driver: every job in a fresh container of the build's image.

Through the Docker Engine API (Docker's SDK; `DOCKER_HOST` or the default socket). A build
gets two volumes, one mounted at the manifest's `workspace` (default `/workspace`) and one
at `/root` (HOME of the image's root user, where SSH keys go, as in Djinn), so that what a
job leaves there is there for the next job. Each job runs in a new container of `image`,
started in the workspace, with the build's variables as its environment (over the image's
own, so its PATH stays) and its script at `/.marid/job.sh`, run by `/bin/sh`. Files are
placed into the volumes through a container that is created but never started; artifacts
are copied out of the job's container once it has exited (paths relative to the
workspace, or absolute anywhere in the container).

Containers get the configured limits (memory, CPUs, pids), `no-new-privileges`, and no
host mounts but the build's volumes. Everything the driver makes carries the worker
process's `marid.owner` label: `destroy` removes it all, and what a worker that died left
is removed by the next sweep of a worker on its host (`docker_daemon.Leftovers`).
"""

from __future__ import annotations

import logging
import os
import posixpath
import queue
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, BinaryIO

from docker.errors import NotFound
from docker.types import Mount
from docker.utils import parse_repository_tag

from infrastructure.drivers.base import (
    IDLE_TICK,
    KILL_GRACE,
    Cancel,
    Driver,
    DriverError,
    Log,
    OnOutput,
)
from infrastructure.drivers.docker_daemon import OWNER, Errors, connect, explain, process_owner
from infrastructure.drivers.tar_stream import (
    CHUNK,
    NOT_REGULAR,
    SYMLINK,
    archive_of,
    regular_file,
    small_archive,
)

log = logging.getLogger("marid.worker")
DEFAULT_WORKSPACE = "/workspace"
HOME = "/root"
SCRIPT = "/.marid/job.sh"
STOP_LIMIT = 10.0  # seconds a killed container may take to end before the job is given up


@dataclass(frozen=True)
class DockerOptions:
    """Per-container limits and the network; None means Docker's default (no limit)."""

    memory: int | None = 2 * 1024**3  # bytes
    cpus: float | None = None
    pids: int | None = 1024
    network: str | None = None  # None: Docker's default bridge
    api_timeout: float = 120.0  # seconds for one Engine API call (a pull may be slow)

    def describe(self) -> str:
        """How builds run (a line for banners)."""
        limits = (
            f"memory {f'{self.memory // 1024**2}m' if self.memory else 'unlimited'}, "
            f"cpus {self.cpus or 'unlimited'}, pids {self.pids or 'unlimited'}, "
            f"network {self.network or 'default bridge'}"
        )
        host = os.environ.get("DOCKER_HOST") or "the default socket"
        return f"docker: a container per job, through {host} ({limits})"


class DockerDriver(Driver):
    name = "docker"

    def __init__(self, config: Mapping[str, str], options: DockerOptions) -> None:
        self.image = config.get("image", "")
        self._workspace = posixpath.normpath(config.get("workspace") or DEFAULT_WORKSPACE)
        self.options = options
        self._client: Any = None
        self._labels = {OWNER: process_owner()}
        self._mounts: list[Mount] = []
        self._volumes: list[str] = []
        self._containers: list[Any] = []  # made and not yet removed, oldest first
        self._current: Any = None  # files go in and out through it: setup's, then the job's

    @property
    def workspace(self) -> str:
        return self._workspace

    @property
    def home(self) -> str:
        return HOME

    def base_env(self) -> dict[str, str]:
        return {}  # the image's environment (PATH, HOME, ...) is the base

    def create(self, log: Log) -> None:
        log(f"Running with docker driver, image {self.image}...")
        if not self.image:
            raise DriverError("the docker driver needs an image")
        if not posixpath.isabs(self.workspace) or self.workspace == "/":
            raise DriverError(f"workspace must be an absolute directory, not {self.workspace!r}")
        try:
            self._client = connect(self.options.api_timeout)
            self._ensure_image(log)
            token = secrets.token_hex(6)
            places = [("workspace", self.workspace)]
            if self.workspace != HOME:
                places.append(("home", HOME))
            for kind, target in places:
                volume = self._client.volumes.create(
                    name=f"marid-{token}-{kind}", labels=self._labels
                )
                self._volumes.append(volume.name)
                self._mounts.append(Mount(target, volume.name, type="volume"))
            self._current = self._container(["/bin/true"], {})
        except DriverError:
            raise
        except Errors as exc:
            raise DriverError(f"docker: {explain(exc)}") from None
        log(f"Created volume {self._volumes[0]} for workspace {self.workspace}")

    def _ensure_image(self, log: Log) -> None:
        try:
            self._client.images.get(self.image)
            return
        except NotFound:
            pass
        log(f"Pulling image {self.image}...")
        repository, tag = parse_repository_tag(self.image)
        try:
            self._client.images.pull(repository, tag=tag or "latest")
        except Errors as exc:
            raise DriverError(f"cannot pull image {self.image}: {explain(exc)}") from None
        log(f"Pulled image {self.image}")

    def _container(self, command: list[str], env: Mapping[str, str]) -> Any:
        opts = self.options
        container = self._client.containers.create(
            self.image,
            entrypoint=command,  # not the image's: it would get our command as arguments
            environment=dict(env),
            working_dir=self.workspace,
            labels=self._labels,
            mounts=self._mounts,
            network_mode=opts.network,
            mem_limit=opts.memory,
            nano_cpus=int(opts.cpus * 1e9) if opts.cpus else None,
            pids_limit=opts.pids,
            security_opt=["no-new-privileges"],
        )
        self._containers.append(container)
        return container

    def resolve(self, path: str) -> str:
        # The container is the build's machine: any absolute path in it is allowed.
        return posixpath.normpath(posixpath.join(self.workspace, path))

    def put_file(self, path: str, data: BinaryIO, mode: int = 0o644) -> None:
        target = self.resolve(path)
        volumes = [m["Target"] for m in self._mounts]
        if not any(target == v or target.startswith(v.rstrip("/") + "/") for v in volumes):
            raise DriverError(f"{path} is outside the build's volumes ({', '.join(volumes)})")
        with archive_of(target, data, mode) as archive:
            try:
                self._current.put_archive("/", archive)
            except Errors as exc:
                raise DriverError(f"cannot write {path}: {explain(exc)}") from None

    def get_file(self, path: str) -> AbstractContextManager[Iterator[bytes]]:
        return self._read(self.resolve(path))

    @contextmanager
    def _read(self, path: str) -> Iterator[Iterator[bytes]]:
        if self._current is None:
            raise DriverError("the docker driver has not been created")
        chunks, stat = self._archive(path)
        if stat.get("mode", 0) & SYMLINK and stat.get("linkTarget"):
            del chunks  # unread: the response is dropped with it
            chunks, stat = self._archive(
                posixpath.join(posixpath.dirname(path), stat["linkTarget"])
            )
        if stat.get("mode", 0) & NOT_REGULAR:
            raise FileNotFoundError(f"{path} is not a regular file")
        with regular_file(chunks, path) as body:
            yield body

    def _archive(self, path: str) -> tuple[Iterator[bytes], dict[str, Any]]:
        try:
            chunks, stat = self._current.get_archive(path, chunk_size=CHUNK)
        except NotFound:
            raise FileNotFoundError(path) from None
        except Errors as exc:
            raise DriverError(f"cannot read {path}: {explain(exc)}") from None
        return chunks, stat

    def run(self, script: str, env: Mapping[str, str], on_output: OnOutput, cancel: Cancel) -> int:
        self._remove(self._current)  # the previous job's: its artifacts are collected
        self._current = container = self._container(["/bin/sh", SCRIPT], env)
        container.put_archive("/", small_archive(SCRIPT, script.encode(), 0o755))
        container.start()
        return self._follow(container, on_output, cancel)

    def _follow(self, container: Any, on_output: OnOutput, cancel: Cancel) -> int:
        """Stream the job's output until its container exits; stop it when cancelled."""
        stream = container.logs(stream=True, follow=True)
        chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        pump = threading.Thread(target=_pump, args=(stream, chunks), daemon=True)
        pump.start()
        term_at: float | None = None
        killed = False
        try:
            while True:
                if cancel.is_set() and term_at is None:
                    _signal(container, "SIGTERM")
                    term_at = time.monotonic()
                if term_at is not None and not killed and time.monotonic() - term_at > KILL_GRACE:
                    _signal(container, "SIGKILL")
                    killed = True
                if term_at is not None and time.monotonic() - term_at > STOP_LIMIT:
                    return 128 + 9  # the daemon does not say; destroy removes it by force
                try:
                    chunk = chunks.get(timeout=IDLE_TICK)
                except queue.Empty:
                    on_output(b"")
                    continue
                if chunk is None:
                    break
                on_output(chunk)
        finally:
            stream.close()
            pump.join(KILL_GRACE)
        return int(container.wait(timeout=self.options.api_timeout)["StatusCode"])

    def _remove(self, container: Any) -> None:
        if container is None:
            return
        try:
            container.remove(force=True)
        except NotFound:
            pass
        except Errors:
            log.warning("cannot remove container %s", container.id, exc_info=True)
            return
        self._containers.remove(container)

    def destroy(self) -> None:
        if self._client is None:
            return
        try:
            for container in list(self._containers):
                self._remove(container)
            for name in self._volumes:
                try:
                    self._client.api.remove_volume(name, force=True)
                except NotFound:
                    pass
                except Errors:
                    log.warning("cannot remove volume %s", name, exc_info=True)
        finally:
            self._current = None
            self._volumes.clear()
            self._client.close()
            self._client = None


def _pump(stream: Any, chunks: queue.SimpleQueue[bytes | None]) -> None:
    """Move a log stream's chunks to a queue (the stream blocks); None at its end."""
    try:
        for chunk in stream:
            chunks.put(chunk)
    except Exception:  # noqa: S110 - the SDK's errors vary: closed under it, daemon gone...
        pass  # ...and the caller's wait for the container says what happened
    finally:
        chunks.put(None)


def _signal(container: Any, sig: str) -> None:
    with suppress(*Errors):  # it may have ended meanwhile
        container.kill(signal=sig)
