"""What the qemu driver's tests share: qemu (required in CI) and a bootable test image.

The image is built offline from Debian's packages by `tests/qemu/build-image.sh` (the
recipe the README points to), with an SSH key of its own, once: it is kept under
`~/.cache/marid-test-images/<hash>/`, the hash of the script and of the host packages it
takes files from, so a change to either builds a new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("qemu") / "build-image.sh"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marid-test-images"
TOOLS = ("qemu-system-x86_64", "qemu-img", "dropbear", "dropbearkey", "syslinux", "mcopy")
PACKAGES = (
    "busybox-static",
    "dropbear-bin",
    "openssh-sftp-server",
    "syslinux",
    "linux-image-amd64",
)


@dataclass(frozen=True)
class BootImage:
    qcow2: Path
    key: Path  # the private key root logs in with
    base_dir: Path  # MARID_QEMU_IMAGES holding it as x86_64/test.qcow2


def require_qemu() -> None:
    """qemu and the image's tools must be installed; in CI their absence fails the test."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    message = f"missing {', '.join(missing)}: `make qemu` installs them"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _inputs_hash() -> str:
    digest = hashlib.sha256(SCRIPT.read_bytes())
    versions = subprocess.run(
        ["dpkg-query", "-W", *PACKAGES], capture_output=True, text=True, check=False
    ).stdout
    digest.update(versions.encode())
    return digest.hexdigest()[:16]


def boot_image() -> BootImage:
    """The cached test image, built first if needed."""
    require_qemu()
    home = CACHE / _inputs_hash()
    image = BootImage(home / "base" / "x86_64" / "test.qcow2", home / "key", home / "base")
    image.qcow2.parent.mkdir(parents=True, exist_ok=True)
    with (home / "lock").open("w") as lock:  # test processes in parallel build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not image.qcow2.exists():
            _build(image)
    return image


def _build(image: BootImage) -> None:
    if not image.key.exists():
        image.key.with_suffix(".pub").unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(image.key)], check=True
        )
    built = subprocess.run(
        [str(SCRIPT), str(image.qcow2), f"{image.key}.pub"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(f"building the qemu test image failed:\n{built.stdout}\n{built.stderr}")
