"""One qemu virtual machine for the qemu driver: its acceleration, its process, its port.

The VM boots headless (`-display none`, no monitor, no serial) from a qcow2 overlay whose
backing file is the build's image, so nothing is ever written to the image itself. Its
network is qemu's user network with the guest's port 22 forwarded to a loopback port: a
port the kernel just gave out (bind port 0) and, should another process take it before
qemu binds it, qemu fails at once ("could not set up host forwarding") and the VM starts
again on a new one.

qemu runs under the os driver's supervisor (`lifeline.py`), in a process group of its own:
when the worker dies, however abruptly, the supervisor kills the group, the VM with it.

KVM is used only when it really works: `/dev/kvm` may exist and still fail standard guests
(a paravirtual hypervisor without VT-x or AMD-V), so `probe_kvm` requires those CPU flags
and boots a one-sector guest that exits qemu through a debug port; if it does not within a
few seconds, builds use TCG.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from infrastructure.drivers.base import DriverError, Log
from infrastructure.drivers.os import LIFELINE

PROBE_TIMEOUT = 10.0  # seconds for the probe guest to exit
PROBE_EXIT = 0x31  # the probe writes this to isa-debug-exit: qemu exits (0x31 << 1) | 1
# Real mode: mov dx, 0xf4; mov al, 0x31; out dx, al; hlt; jmp $-1 — then the boot signature.
PROBE_SECTOR = bytes.fromhex("baf400b031eef4ebfd").ljust(510, b"\0") + b"\x55\xaa"
PORT_ATTEMPTS = 5
FORWARD_FAILED = "host forwarding"
BANNER_TIMEOUT = 3.0  # seconds to wait for the guest's SSH banner on one connection
POLL = 0.5


def qemu_binary(arch: str) -> str:
    return f"qemu-system-{arch}"


@cache
def probe_kvm(arch: str = "x86_64") -> bool:
    """Whether a guest boots under KVM here (not merely whether /dev/kvm exists); asked
    once per process."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or not _hardware_virtualization():
        return False
    with tempfile.TemporaryDirectory(prefix="marid-kvm-probe-") as tmp:
        disk = Path(tmp, "probe.img")
        disk.write_bytes(PROBE_SECTOR)
        command = [
            qemu_binary(arch),
            *("-accel", "kvm", "-nodefaults", "-display", "none", "-m", "16", "-no-reboot"),
            *("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"),
            *("-drive", f"file={disk},format=raw,if=floppy"),
        ]
        try:
            done = subprocess.run(  # noqa: S603 - our own command line
                command, capture_output=True, timeout=PROBE_TIMEOUT, check=False
            )
        except (subprocess.TimeoutExpired, OSError):
            return False
        return done.returncode == (PROBE_EXIT << 1) | 1


def _hardware_virtualization() -> bool:
    """Whether the CPU offers VT-x or AMD-V: a KVM without them (a paravirtual one, such as
    kvm-pvm) emulates real mode, boots a trivial guest and fails on real boot loaders."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    return bool(flags & {"vmx", "svm"})


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class VmSpec:
    arch: str
    overlay: Path
    accel: str  # kvm or tcg
    cpus: int
    memory: int  # bytes


def command_line(spec: VmSpec, port: int) -> list[str]:
    netdev = f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22"
    return [
        qemu_binary(spec.arch),
        *("-accel", spec.accel, "-smp", str(spec.cpus), "-m", f"{spec.memory // 1024**2}M"),
        *("-nodefaults", "-display", "none", "-serial", "none", "-monitor", "none"),
        *("-drive", f"file={spec.overlay},format=qcow2,if=virtio"),
        *("-netdev", netdev, "-device", "virtio-net-pci,netdev=net0"),
    ]


class Vm:
    """A running VM: `start` it, `wait_for_ssh`, and `stop` it (always safe to call)."""

    def __init__(self, spec: VmSpec, errors: Path) -> None:
        self.spec = spec
        self.errors = errors  # qemu's stderr, for the build's log when it fails
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lifeline: int | None = None

    def start(self) -> None:
        """Boot it on a free port (another one if that port is taken meanwhile)."""
        for _ in range(PORT_ATTEMPTS):
            self._launch(free_port())
            if not self._forward_failed():
                return
            self.stop()
        raise DriverError("could not forward a port to the VM's SSH")

    def _launch(self, port: int) -> None:
        self.port = port
        watched, lifeline = os.pipe()
        try:
            with self.errors.open("wb") as errors:
                self._process = subprocess.Popen(  # noqa: S603 - our own command line
                    [*LIFELINE, str(watched), "-", *command_line(self.spec, port)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    start_new_session=True,  # the supervisor kills this group
                    pass_fds=(watched,),
                )
        except OSError as exc:
            os.close(lifeline)
            raise DriverError(f"cannot start {qemu_binary(self.spec.arch)}: {exc}") from None
        finally:
            os.close(watched)
        self._lifeline = lifeline

    def _forward_failed(self) -> bool:
        """Whether qemu ended at once because the port was taken (it binds it on start)."""
        process = self._process
        assert process is not None
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and process.poll() is None:
            if self._bound():
                return False
            time.sleep(0.05)
        return process.poll() is not None and FORWARD_FAILED in self.error_text()

    def _bound(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def error_text(self) -> str:
        try:
            return self.errors.read_text(errors="replace").strip()
        except OSError:
            return ""

    def wait_for_ssh(self, deadline: float, log: Log) -> None:
        """Return once the guest's SSH server sends its banner; DriverError if the VM ends
        or `deadline` (monotonic) passes first."""
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                detail = self.error_text().splitlines()
                reason = detail[-1] if detail else "no message"
                raise DriverError(f"the VM stopped while booting: {reason}")
            if self._banner():
                return
            time.sleep(POLL)
        raise DriverError("the VM did not answer on SSH in time")

    def _banner(self) -> bool:
        # qemu accepts the connection itself and closes it while the guest is not listening.
        try:
            with socket.create_connection(("127.0.0.1", self.port), BANNER_TIMEOUT) as sock:
                sock.settimeout(BANNER_TIMEOUT)
                return sock.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def stop(self) -> None:
        """Power it off at once (the guest is disposable) and reap the supervisor."""
        process, self._process = self._process, None
        if process is not None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
