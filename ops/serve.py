"""`marid serve`: the API, the projection runners, and the first-start admin token."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import uvicorn

from api.app import create_app
from domain.origin import Origin
from domain.scopes import Scopes
from infrastructure.bootstrap import Marid
from infrastructure.drivers import describe, factories
from infrastructure.logs import uvicorn_log_config
from infrastructure.settings import Settings
from infrastructure.tokens import generate_token, hash_token
from ops.wiring import long_running

SERVE_ORIGIN = Origin.system("serve")


def serve(settings: Settings, host: str | None, port: int | None, api_only: bool) -> None:
    exit_on_signals()
    host = host or settings.host
    port = port or settings.port
    marid = long_running(settings)
    try:
        if not api_only and settings.run_projections:
            marid.start()
        drivers = tuple(factories(settings)) if not api_only and settings.run_worker else ()
        if drivers:
            marid.start_worker()  # runs builds here; see README for what `os` allows
        announce_admin(marid, host, port)
        announce_drivers(settings, drivers)
        app = create_app(settings, marid=marid)
        # Open output streams (server-sent events) would otherwise hold shutdown forever.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            log_config=uvicorn_log_config(settings.log_level),  # marid's format, not uvicorn's
            timeout_graceful_shutdown=5,
        )
    finally:
        marid.close()


def exit_on_signals() -> None:
    """Make SIGTERM and SIGINT exit through `finally` and atexit, which stop the embedded
    PostgreSQL: uvicorn re-raises the signal after its graceful shutdown, and the default
    SIGTERM action would end the process on the spot."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))


def announce_admin(marid: Marid, host: str, port: int) -> None:
    """On the first start against an empty database, create `admin` with an all-scope token."""
    token_file = marid.settings.data_dir / "admin-token"
    if marid.app.recorder.max_notification_id() is not None:
        if token_file.exists():
            print(f"marid: the admin token is in {token_file}", flush=True)
        return
    user_id = marid.app.register_user("admin", "admin@localhost", SERVE_ORIGIN, admin=True).value
    token = generate_token()
    marid.app.create_token(user_id, "admin", hash_token(token), Scopes.all(), None, SERVE_ORIGIN)
    marid.catch_up()
    write_secret(token_file, token)
    print(
        "marid: created user 'admin' with a token that has every scope (shown once, "
        f"also saved to {token_file}):\n\n    {token}\n\n"
        f"    curl -H 'Authorization: Bearer {token}' http://{host}:{port}/api/user\n",
        flush=True,
    )


def announce_drivers(settings: Settings, drivers: tuple[str, ...]) -> None:
    """Which drivers run builds in this process, and how."""
    if not drivers:
        print("marid: no builds run in this process (`marid worker` runs them)", flush=True)
        return
    lines = "".join(f"\n    {line}" for line in describe(settings, drivers))
    print(f"marid: builds run here with {', '.join(drivers)}:{lines}", flush=True)


def write_secret(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
