"""How the commands wire marid: for one answer, or to run until stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from infrastructure.settings import Settings

if TYPE_CHECKING:  # imported where used: wiring imports the whole application
    from infrastructure.bootstrap import Marid
    from infrastructure.startup import Startup


def one_shot(settings: Settings) -> Marid:
    """A `Marid` for a command that answers and exits: tables are created only on a database
    that lacks some (a fresh one); `serve` and the runners upgrade them."""
    return wired(settings, always_migrate=False)


def long_running(settings: Settings, startup: Startup | None = None) -> Marid:
    """A `Marid` for a process that runs until stopped: its tables created and upgraded.
    With `startup`, an unreachable database is waited for (retried, then given up)."""
    return wired(settings, always_migrate=True, startup=startup)


def wired(settings: Settings, *, always_migrate: bool, startup: Startup | None = None) -> Marid:
    from infrastructure.bootstrap import bootstrap

    marid = bootstrap(settings) if startup is None else waited_for(settings, startup)
    try:
        if startup is not None:
            startup.run("creating and upgrading tables", marid.migrate)
        elif always_migrate or not marid.migrated():
            marid.migrate()
    except BaseException:
        marid.close()
        raise
    return marid


def waited_for(settings: Settings, startup: Startup) -> Marid:
    """`bootstrap`, once PostgreSQL accepts connections (it connects to load types)."""
    from infrastructure.bootstrap import bootstrap
    from infrastructure.database import start_embedded

    conninfo = settings.database_url or start_embedded(settings.data_dir)
    startup.connect(conninfo)
    return startup.run("connecting", lambda: bootstrap(settings, conninfo=conninfo))


def run_until_signal(marid: Marid, start: Callable[[], object], started: str) -> None:
    """Start what the command runs, say so, and wait for SIGINT or SIGTERM; then close."""
    try:
        start()
        print(started, flush=True)
        wait_for_signal()
    finally:
        marid.close()


def wait_for_signal() -> None:
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
