"""Build drivers by name: the worker makes one driver per build from its manifest's `driver`.

The names are those of `MARID_DRIVERS` and the manifest's `driver.type`. A worker runs the
enabled drivers it implements; `docker` and `qemu` can be added here later (see `base`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from infrastructure.drivers.base import Cancel, Driver, DriverError, job_script
from infrastructure.drivers.os import OsDriver
from infrastructure.drivers.ssh import SshDriver, SshOptions
from infrastructure.settings import Settings

__all__ = [
    "IMPLEMENTED",
    "Cancel",
    "Driver",
    "DriverError",
    "DriverFactory",
    "factories",
    "job_script",
]

DriverFactory = Callable[[Mapping[str, str]], Driver]
IMPLEMENTED = ("os", "ssh")


def factories(settings: Settings, names: tuple[str, ...] | None = None) -> dict[str, DriverFactory]:
    """A factory per driver this worker runs: `names` (default: the enabled drivers) that
    marid implements."""
    ssh = SshOptions(
        user=settings.ssh_user,
        key=settings.ssh_key,
        known_hosts=settings.ssh_known_hosts,
        host_key_policy=settings.ssh_host_key_policy,
    )
    made: dict[str, DriverFactory] = {
        "os": lambda config: OsDriver(config),
        "ssh": lambda config: SshDriver(config, ssh),
    }
    wanted = settings.drivers if names is None else names
    return {name: made[name] for name in wanted if name in made}
