"""The `qemu` driver: each build boots a disposable virtual machine and runs its jobs in it
over SSH, exactly as the ssh driver does (it is an `SshDriver` pointed at the VM).

Manifest: `driver: {type: qemu, image: <name>, arch: x86_64}` (`arch` defaults to
x86_64). The image is looked up as Djinn does: for a build in a namespace, the images
uploaded to that namespace; otherwise its owner's own images (no namespace); then this
worker's base images, `MARID_QEMU_IMAGES/<arch>/<name>.qcow2` (a name may have slashes:
`debian/12`). An unknown image fails the build with `couldn't find image <name>`.

Each build gets a directory under `<data dir>/qemu/` named after the worker's pid: the
image (a hard link to the stored blob, or a copy when the blob store is not local
files), a qcow2 overlay on it (the VM writes only there) and qemu's messages; it is
removed when the build ends, and a sweep removes those of dead workers. The VM logs in
as root with `MARID_QEMU_KEY`; its host key is new every boot, so it is not checked
(the connection never leaves the loopback interface).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from application.ports import BlobStore
from infrastructure.blobs import FileBlobStore
from infrastructure.drivers.base import Cancel, Driver, DriverError, Log, OnOutput
from infrastructure.drivers.qemu_vm import Vm, VmSpec, probe_kvm
from infrastructure.drivers.ssh import SshDriver, SshOptions

ARCH_RE = re.compile(r"[a-z0-9_]+")
IMAGE_SQL = (
    "SELECT blob_key FROM images WHERE name = %(name)s AND blob_key IS NOT NULL AND "
    "(namespace_id = %(ns)s OR (%(ns)s IS NULL AND namespace_id IS NULL AND "
    "user_id = %(owner)s)) ORDER BY id LIMIT 1"
)


class ImageRows(Protocol):
    def fetch_one(self, sql: str, params: Any = None) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class QemuOptions:
    work_dir: Path  # per-build directories: <data dir>/qemu
    images: Path | None = None  # base images: <images>/<arch>/<name>.qcow2
    accel: str = "auto"  # auto, kvm, tcg
    cpus: int = 1
    memory: int = 1024**3
    boot_timeout: float = 120.0
    key: str | None = None

    def describe(self) -> str:
        memory = f"{self.memory // 1024**2} MiB"
        base = f"base images in {self.images}" if self.images else "no base images"
        return f"qemu: VMs of {self.cpus} CPU(s), {memory}, accel {self.accel}; {base}"


class QemuFactory:
    """Makes a build's driver (`for_build`); probes KVM once; sweeps dead workers' files."""

    def __init__(self, options: QemuOptions, images: ImageRows | None, blobs: BlobStore | None):
        self.options = options
        self.images = images
        self.blobs = blobs
        self._accel: str | None = None
        self._lock = threading.Lock()

    def accel(self) -> tuple[str, str | None]:
        """The accelerator, and a line for the build's log when KVM is not used."""
        with self._lock:
            if self._accel is None:
                wanted = self.options.accel
                self._accel = wanted if wanted != "auto" else "kvm" if probe_kvm() else "tcg"
        if self._accel == "kvm":
            return "kvm", None
        why = "as configured" if self.options.accel == "tcg" else "KVM does not work here"
        return "tcg", f"Using TCG (software emulation, slow): {why}"

    def __call__(self, config: Mapping[str, str]) -> Driver:
        return self.for_build(config, None, None)

    def for_build(
        self, config: Mapping[str, str], owner_id: int | None, namespace_id: int | None
    ) -> Driver:
        return QemuDriver(config, self, owner_id, namespace_id)

    def find_image(self, name: str, arch: str, owner_id: int | None, ns: int | None) -> Image:
        """The build's image: uploaded (a blob key) or a base image (a path); DriverError."""
        if self.images is not None and owner_id is not None:
            params = {"name": name, "ns": ns, "owner": owner_id}
            row = self.images.fetch_one(IMAGE_SQL, params)
            if row is not None:
                return Image(name, blob_key=str(row["blob_key"]))
        base = self.options.images
        parts = name.split("/")
        if base is not None and ARCH_RE.fullmatch(arch) and "" not in parts and ".." not in parts:
            path = (base / arch / f"{name}.qcow2").resolve()
            if path.is_relative_to(base.resolve()) and path.is_file():
                return Image(name, path=path)
        raise DriverError(f"couldn't find image {name}")

    def remove_leftovers(self) -> None:
        """Remove the build directories of workers that are gone (their VMs died with them)."""
        if not self.options.work_dir.is_dir():
            return
        for entry in self.options.work_dir.iterdir():
            pid = entry.name.partition("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


@dataclass(frozen=True)
class Image:
    name: str
    blob_key: str | None = None
    path: Path | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class QemuDriver(Driver):
    name = "qemu"

    def __init__(
        self,
        config: Mapping[str, str],
        factory: QemuFactory,
        owner_id: int | None,
        namespace_id: int | None,
    ) -> None:
        self.image_name = config.get("image", "")
        self.arch = config.get("arch") or "x86_64"
        self.factory = factory
        self.owner_id = owner_id
        self.namespace_id = namespace_id
        self._dir: Path | None = None
        self._vm: Vm | None = None
        self._ssh: SshDriver | None = None

    @property
    def ssh(self) -> SshDriver:
        if self._ssh is None:
            raise DriverError("the qemu driver has not been created")
        return self._ssh

    @property
    def workspace(self) -> str:
        return self.ssh.workspace

    @property
    def home(self) -> str:
        return self.ssh.home

    def base_env(self) -> dict[str, str]:
        return self.ssh.base_env()

    def create(self, log: Log) -> None:
        options = self.factory.options
        log("Running with qemu driver...")
        image = self.factory.find_image(
            self.image_name, self.arch, self.owner_id, self.namespace_id
        )
        options.work_dir.mkdir(parents=True, exist_ok=True)
        work_dir = options.work_dir.resolve()  # qemu reads a relative backing file's path
        self._dir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=work_dir))
        backing = self._backing(image)
        if image.blob_key is not None:
            _check_upload(backing, image.name)
        overlay = self._dir / "overlay.qcow2"
        _overlay(backing, overlay)
        accel, note = self.factory.accel()
        if note:
            log(note)
        spec = VmSpec(self.arch, overlay, accel, options.cpus, options.memory)
        self._vm = Vm(spec, self._dir / "qemu.log")
        deadline = time.monotonic() + options.boot_timeout
        log(f"Booting image {image.name} ({self.arch}, {accel})...")
        self._vm.start()
        self._boot(deadline, log)

    def _backing(self, image: Image) -> Path:
        """The image's file for this build: a base image as it is, an upload linked or
        copied out of the blob store."""
        if image.path is not None:
            return image.path
        assert self._dir is not None
        assert image.blob_key is not None
        target = self._dir / "image.qcow2"
        blobs = self.factory.blobs
        if isinstance(blobs, FileBlobStore):
            with suppress(OSError):
                os.link(blobs.root / image.blob_key, target)
                return target
        if blobs is None:
            raise DriverError(f"couldn't find image {image.name}")
        try:
            with blobs.open(image.blob_key) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        except FileNotFoundError:
            raise DriverError(f"the file of image {image.name} is gone") from None
        return target

    def _boot(self, deadline: float, log: Log) -> None:
        """Wait for the guest's SSH, then log in as root (again until the deadline: the
        server may answer before it accepts logins)."""
        vm = self._vm
        assert vm is not None
        timeout = self.factory.options.boot_timeout
        try:
            vm.wait_for_ssh(deadline, log)
        except DriverError as exc:
            if "in time" in str(exc):
                raise DriverError(f"the VM did not answer on SSH within {timeout:g}s") from None
            raise
        options = SshOptions(user="root", key=self.factory.options.key, host_key_policy="ignore")
        while True:
            self._ssh = SshDriver({"address": f"127.0.0.1:{vm.port}"}, options)
            try:
                self._ssh.create(lambda line: None)
                log(f"Logged in to the VM as root (SSH on 127.0.0.1:{vm.port})")
                return
            except DriverError as exc:
                self._ssh = None
                if time.monotonic() >= deadline:
                    raise DriverError(f"cannot log in to the VM: {exc}") from None
                time.sleep(1.0)

    def resolve(self, path: str) -> str:
        return self.ssh.resolve(path)

    def put_file(self, path: str, data: BinaryIO, mode: int = 0o644) -> None:
        self.ssh.put_file(path, data, mode)

    def get_file(self, path: str) -> AbstractContextManager[Iterator[bytes]]:
        return self.ssh.get_file(path)

    def run(self, script: str, env: Mapping[str, str], on_output: OnOutput, cancel: Cancel) -> int:
        return self.ssh.run(script, env, on_output, cancel)

    def destroy(self) -> None:
        try:
            if self._ssh is not None:
                self._ssh.destroy()
        finally:
            self._ssh = None
            if self._vm is not None:
                self._vm.stop()
                self._vm = None
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


def _overlay(backing: Path, overlay: Path) -> None:
    command = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", "qcow2"]
    try:
        done = subprocess.run(  # noqa: S603 - our own command line
            [*command, str(overlay)], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriverError(f"cannot make the VM's disk: {exc}") from None
    if done.returncode != 0:
        raise DriverError(f"cannot make the VM's disk: {done.stderr.strip()}")


def _check_upload(path: Path, name: str) -> None:
    """An uploaded image must be a plain qcow2: one that names a backing or data file
    would have the VM read files of the worker's host."""
    command = ["qemu-img", "info", "-U", "--output=json", str(path)]
    try:
        done = subprocess.run(  # noqa: S603 - our own command line
            command, capture_output=True, text=True, timeout=60, check=False
        )
        info = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        info = None
    if not isinstance(info, dict) or info.get("format") != "qcow2":
        raise DriverError(f"image {name} is not a valid qcow2 file")
    data = info.get("format-specific", {}).get("data", {})
    if "backing-filename" in info or "full-backing-filename" in info or "data-file" in data:
        raise DriverError(f"image {name} refers to other files: it cannot be used")
