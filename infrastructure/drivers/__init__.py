"""Build drivers by name: the worker makes one driver per build from its manifest's `driver`.

The names are those of `MARID_DRIVERS` and the manifest's `driver.type`. A worker runs the
enabled drivers it implements. A factory may also have `remove_leftovers()`: the worker
calls it on every sweep (the docker driver's removes what dead workers left in Docker);
and `for_build(config, owner_id, namespace_id)`, which the worker then calls instead of
the factory itself (the qemu driver looks up the build's images).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from application.ports import BlobStore
from infrastructure.drivers.base import Cancel, Driver, DriverError, job_script
from infrastructure.drivers.docker import DockerDriver, DockerOptions
from infrastructure.drivers.docker_daemon import Leftovers
from infrastructure.drivers.os import describe_os, os_factories
from infrastructure.drivers.qemu import ImageRows, QemuFactory, QemuOptions
from infrastructure.drivers.ssh import SshDriver, SshOptions
from infrastructure.settings import Settings

__all__ = [
    "IMPLEMENTED",
    "Cancel",
    "DockerFactory",
    "Driver",
    "DriverError",
    "DriverFactory",
    "describe",
    "factories",
    "job_script",
]

DriverFactory = Callable[[Mapping[str, str]], Driver]
IMPLEMENTED = ("os", "ssh", "docker", "qemu")


def factories(
    settings: Settings,
    names: tuple[str, ...] | None = None,
    images: ImageRows | None = None,
    blobs: BlobStore | None = None,
) -> dict[str, DriverFactory]:
    """A factory per driver this worker runs: `names` (default: the enabled drivers) that
    marid implements. The qemu driver finds uploaded `images` (their read model) in `blobs`."""
    ssh = SshOptions(
        user=settings.ssh_user,
        key=settings.ssh_key,
        known_hosts=settings.ssh_known_hosts,
        host_key_policy=settings.ssh_host_key_policy,
    )
    made: dict[str, DriverFactory] = {
        "ssh": lambda config: SshDriver(config, ssh),
        "docker": DockerFactory(docker_options(settings)),
        "qemu": QemuFactory(qemu_options(settings), images, blobs),
    }
    wanted = settings.drivers if names is None else names
    if "os" in wanted:
        made.update(os_factories(settings))  # none when it must not run here
    return {name: made[name] for name in wanted if name in made}


def docker_options(settings: Settings) -> DockerOptions:
    return DockerOptions(
        memory=settings.docker_memory,
        cpus=settings.docker_cpus,
        pids=settings.docker_pids,
        network=settings.docker_network,
    )


def qemu_options(settings: Settings) -> QemuOptions:
    return QemuOptions(
        work_dir=settings.data_dir / "qemu",
        images=settings.qemu_images,
        accel=settings.qemu_accel,
        cpus=settings.qemu_cpus,
        memory=settings.qemu_memory,
        boot_timeout=settings.qemu_boot_timeout,
        key=settings.qemu_key,
    )


class DockerFactory:
    """Docker drivers with this worker's limits; cleans up after dead workers."""

    def __init__(self, options: DockerOptions) -> None:
        self.options = options
        self.remove_leftovers = Leftovers()

    def __call__(self, config: Mapping[str, str]) -> Driver:
        return DockerDriver(config, self.options)


def describe(settings: Settings, names: tuple[str, ...]) -> list[str]:
    """One line per driver in `names`: how it runs builds (for banners)."""
    lines = []
    for name in names:
        if name == "docker":
            lines.append(docker_options(settings).describe())
        elif name == "os":
            lines.append(describe_os(settings))
        elif name == "qemu":
            lines.append(qemu_options(settings).describe())
        elif name == "ssh":
            lines.append(f"ssh: jobs run on the manifest's host as {settings.ssh_user}")
    return lines
