"""What the docker driver's tests share: a daemon (required in CI), an image built offline,
and the containers and volumes a process has made.

No registry is reachable from the test machines, so the image `marid-test/busybox:latest`
is made from Debian's static busybox (`busybox-static`): a root file system with
`/bin/busybox` and a link per applet, imported through the Engine API (`docker import`).
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from typing import Any

import pytest
from docker.errors import NotFound

from infrastructure.drivers.docker_daemon import OWNER, connect, daemon_answers, process_owner

IMAGE = "marid-test/busybox:latest"
BUSYBOX = "/bin/busybox"
PASSWD = b"root:x:0:0:root:/root:/bin/sh\n"


def require_docker() -> None:
    """A daemon must answer; in CI (CI=true) its absence fails the test instead of skipping."""
    if daemon_answers():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("no Docker daemon answers; .ci/run installs docker.io and starts dockerd")
    pytest.skip(
        "no Docker daemon answers (DOCKER_HOST or /var/run/docker.sock); `make test` starts one"
    )


def ensure_image() -> str:
    """`IMAGE`, imported from a busybox root file system unless the daemon has it."""
    client = connect(60)
    try:
        try:
            client.images.get(IMAGE)
            return IMAGE
        except NotFound:
            pass
        if not os.path.exists(BUSYBOX):
            pytest.fail(f"{BUSYBOX} is missing: apt-get install busybox-static")
        repository, tag = IMAGE.split(":")
        client.api.import_image_from_data(busybox_rootfs(), repository=repository, tag=tag)
        return IMAGE
    finally:
        client.close()


def busybox_rootfs() -> bytes:
    """A tar of a root file system: static busybox, its applets, /tmp, /root, a passwd."""
    applets = subprocess.run(
        [BUSYBOX, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)):
            directory = tarfile.TarInfo(name)
            directory.type, directory.mode = tarfile.DIRTYPE, mode
            tar.addfile(directory)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        passwd = tarfile.TarInfo("etc/passwd")
        passwd.size, passwd.mode = len(PASSWD), 0o644
        tar.addfile(passwd, io.BytesIO(PASSWD))
    return archive.getvalue()


def ours(owner: str | None = None) -> dict[str, list[Any]]:
    """The containers and volumes a process (default: this one) has made and not removed."""
    label = f"{OWNER}={owner or process_owner()}"
    client = connect(30)
    try:
        containers = client.api.containers(all=True, filters={"label": label})
        volumes = client.api.volumes(filters={"label": label}).get("Volumes") or []
        return {"containers": containers, "volumes": volumes}
    finally:
        client.close()


def nothing_left(owner: str | None = None) -> bool:
    found = ours(owner)
    return not found["containers"] and not found["volumes"]


def running(owner: str | None = None) -> list[Any]:
    return [c for c in ours(owner)["containers"] if c.get("State") == "running"]
