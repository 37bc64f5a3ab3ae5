"""`marid serve`: the API, the projection runners, and the first-start admin token."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

from api.app import create_app
from domain.origin import Origin
from domain.scopes import Scopes
from infrastructure.bootstrap import Marid
from infrastructure.drivers import describe, factories
from infrastructure.settings import Settings
from infrastructure.startup import DatabaseUnreachableError, Startup
from infrastructure.tokens import generate_token, hash_token
from ops.server import run_server
from ops.wiring import long_running

SERVE_ORIGIN = Origin.system("serve")


def serve(settings: Settings, host: str | None, port: int | None, api_only: bool) -> None:
    """Wire marid (waiting up to `startup_timeout` for an unreachable database, then
    exiting with one line), announce the admin token on a first start, serve the API."""
    exit_on_signals()
    host = host or settings.host
    port = port or settings.port
    startup = Startup(settings.startup_timeout)
    try:
        marid = long_running(settings, startup)
    except DatabaseUnreachableError as exc:
        sys.exit(f"marid: {exc}")
    try:
        if not api_only and settings.run_projections:
            marid.start()
        drivers = tuple(factories(settings)) if not api_only and settings.run_worker else ()
        if drivers:
            marid.start_worker()  # runs builds here; see README for what `os` allows
        announce_admin(marid, host, port, startup)
        announce_drivers(settings, drivers)
        app = create_app(settings, marid=marid)
        run_server(app, settings, host, port)
    except DatabaseUnreachableError as exc:
        sys.exit(f"marid: {exc}")
    finally:
        marid.close()


def exit_on_signals() -> None:
    """Make SIGTERM and SIGINT exit through `finally` and atexit, which stop the embedded
    PostgreSQL: uvicorn re-raises the signal after its graceful shutdown, and the default
    SIGTERM action would end the process on the spot."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))


def announce_admin(marid: Marid, host: str, port: int, startup: Startup) -> None:
    """On the first start against an empty database, create `admin` with an all-scope token.

    The token is saved to `admin-token` before anything is recorded: if a later step fails
    (the database runs out of connections), the file still holds the only admin token, and
    the next start finishes what this one began.
    """
    token_file = marid.settings.data_dir / "admin-token"
    if startup.run("reading the event log", marid.app.recorder.max_notification_id) is not None:
        if token_file.exists():
            finish_admin(marid, token_file.read_text().strip(), startup)
            print(f"marid: the admin token is in {token_file}", flush=True)
        return
    # An earlier first start that recorded nothing may have written one: keep it.
    token = token_file.read_text().strip() if token_file.exists() else generate_token()
    write_secret(token_file, token)
    user_id = startup.run(
        "creating the admin user",
        lambda: marid.app.register_user("admin", "admin@localhost", SERVE_ORIGIN, admin=True).value,
    )
    startup.run("creating the admin token", lambda: admin_token(marid, user_id, token))
    print(
        "marid: created user 'admin' with a token that has every scope (shown once, "
        f"also saved to {token_file}):\n\n    {token}\n\n"
        f"    curl -H 'Authorization: Bearer {token}' http://{host}:{port}/api/user\n",
        flush=True,
    )
    startup.run("updating the read models", marid.catch_up)


def admin_token(marid: Marid, user_id: int, token: str) -> None:
    marid.app.create_token(user_id, "admin", hash_token(token), Scopes.all(), None, SERVE_ORIGIN)


def finish_admin(marid: Marid, token: str, startup: Startup) -> None:
    """Give `admin` the file's token if a first start stopped between creating the user and
    its token (`admin` has no token at all); a token that works is left alone."""
    if marid.users.authenticate(hash_token(token), marid.clock()) is not None:
        return
    startup.run("updating the read models", marid.catch_up)
    admin = marid.users.user_by_name("admin")
    if admin is None or marid.users.tokens(admin.id):
        return  # not the first start's admin, or its tokens were revoked on purpose
    startup.run("creating the admin token", lambda: admin_token(marid, admin.id, token))
    startup.run("updating the read models", marid.catch_up)


def announce_drivers(settings: Settings, drivers: tuple[str, ...]) -> None:
    """Which drivers run builds in this process, and how."""
    if not drivers:
        print("marid: no builds run in this process (`marid worker` runs them)", flush=True)
        return
    lines = "".join(f"\n    {line}" for line in describe(settings, drivers))
    print(f"marid: builds run here with {', '.join(drivers)}:{lines}", flush=True)


def write_secret(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically: a reader sees the old content or
    the whole new one (a temporary file in the same directory, flushed, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
