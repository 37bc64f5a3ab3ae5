"""The qemu driver's parts that need no boot to the end: the VM dies with its worker, base
images cannot be named outside their directory, uploads that refer to other files are
refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from infrastructure.drivers.base import DriverError
from infrastructure.drivers.qemu import QemuFactory, QemuOptions, _check_upload
from tests.qemu_support import BootImage, boot_image

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from infrastructure.drivers.qemu_vm import Vm, VmSpec
    vm = Vm(VmSpec("x86_64", Path(sys.argv[1]), "tcg", 1, 128 * 1024**2), Path(sys.argv[2]))
    vm.start()
    print(vm._process.pid, vm.port, flush=True)
    time.sleep(600)
    """
)


@pytest.fixture(scope="module")
def image() -> BootImage:
    return boot_image()


def overlay(image: BootImage, tmp_path: Path) -> Path:
    path = tmp_path / "overlay.qcow2"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            str(image.qcow2),
            "-F",
            "qcow2",
            str(path),
        ],
        check=True,
    )
    return path


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_the_vm_dies_with_its_worker(image: BootImage, tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", WORKER, str(overlay(image, tmp_path)), str(tmp_path / "qemu.log")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    ) as worker:
        assert worker.stdout is not None
        supervisor = int(worker.stdout.readline().split()[0])
        group = os.getpgid(supervisor)
        members = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _group(p) == group]
        assert len(members) >= 2  # the supervisor and qemu

        worker.send_signal(signal.SIGKILL)
        worker.wait()

    deadline = time.monotonic() + 10
    while not all(gone(int(p.name)) for p in members):
        assert time.monotonic() < deadline, "qemu outlived its worker"
        time.sleep(0.1)


def _group(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def test_base_images_are_found_only_in_their_directory(image: BootImage, tmp_path: Path) -> None:
    factory = QemuFactory(QemuOptions(work_dir=tmp_path, images=image.base_dir), None, None)

    assert factory.find_image("test", "x86_64", 1, None).path == image.qcow2
    for name, arch in (("../x86_64/test", "x86_64"), ("test", "../x86_64"), ("nope", "x86_64")):
        with pytest.raises(DriverError, match=f"couldn't find image {name}"):
            factory.find_image(name, arch, 1, None)


def test_an_upload_that_refers_to_other_files_is_refused(image: BootImage, tmp_path: Path) -> None:
    _check_upload(image.qcow2, "test")
    with pytest.raises(DriverError, match="image evil refers to other files"):
        _check_upload(overlay(image, tmp_path), "evil")
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\0" * 4096)
    with pytest.raises(DriverError, match="image raw is not a valid qcow2 file"):
        _check_upload(raw, "raw")
