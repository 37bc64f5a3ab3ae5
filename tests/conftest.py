"""Shared fixtures: a PostgreSQL per test session, a clean database state per test.

With MARID_TEST_DATABASE_URL set (CI), tests use that server and fail, never skip, when it
is unreachable. Without it, the session starts an embedded PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app, fresh_counters
from application.core import utcnow
from domain.origin import Origin
from domain.scopes import Scopes
from infrastructure.bootstrap import Marid, bootstrap
from infrastructure.database import start_embedded, with_database
from infrastructure.settings import Settings
from infrastructure.tokens import generate_token, hash_token

Client = TestClient[Litestar]
TEST_ORIGIN = Origin.system("test")
SECRET_KEY = "test-secret-key-of-at-least-32-bytes!!"
pytest_plugins = ["tests.s3_support"]  # `s3`: an S3-compatible server and a bucket


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Connection string of a PostgreSQL server (its maintenance database)."""
    url = os.environ.get("MARID_TEST_DATABASE_URL")
    if not url:
        return start_embedded(tmp_path_factory.mktemp("embedded-pg"))
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(f"MARID_TEST_DATABASE_URL is set but unreachable: {exc}")
    return url


@pytest.fixture(scope="session")
def database(pg_server: str) -> Iterator[str]:
    """A database of its own for this test session, dropped at the end."""
    name = f"marid_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
        # Tests need no durability across a crash: skip waiting for the WAL flush.
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    yield with_database(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def reset_database(conninfo: str) -> None:
    """Empty every table and restart every sequence (tracking keeps its migration row).

    DELETE rather than TRUNCATE: on tables this small it is several times faster. One
    round trip to list them, one to empty them.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        sequences = conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall()
        statements = ["BEGIN"]
        for (table,) in tables:
            keep = (
                " WHERE application_name <> '__migration__'" if table.endswith("_tracking") else ""
            )
            statements.append(f"DELETE FROM {table}{keep}")
        statements += [f"ALTER SEQUENCE {sequence} RESTART" for (sequence,) in sequences]
        conn.execute("; ".join([*statements, "COMMIT"]).encode())


def settings_for(database: str, data_dir: Path) -> Settings:
    """What tests run with unless they say otherwise."""
    return Settings(
        database_url=database,
        data_dir=data_dir,
        secret_key=SECRET_KEY,
        read_wait_timeout=15.0,  # generous: a loaded 2-core machine can lag
        pool_size=4,
        run_scheduler=False,  # cron tests drive schedulers with their own clocks
        run_webhooks=False,  # webhook delivery tests turn it on
        # Ignored as root (CI): jobs then run as the build user. Lets a developer who is not
        # root run the worker tests, their jobs running as themselves.
        os_allow_same_user=True,
    )


def wired(settings: Settings, clock: Callable[[], datetime] = utcnow) -> Marid:
    """A marid as a long-running process wires it: tables created and upgraded, nothing
    started."""
    instance = bootstrap(settings, clock=clock)
    instance.migrate()
    return instance


# The application is built once per session (per xdist worker) and reset for each test: the
# database emptied, the data directory emptied, the followers (projection runners,
# downloads, workers) stopped after the test and started again from the empty database
# before the next one, the API's counters renewed. A test whose `settings` differ (a module
# overrides the fixture) gets a marid and a client of its own, as does `make_marid`.


@pytest.fixture(scope="session")
def default_settings(database: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings_for(database, tmp_path_factory.mktemp("data"))


@pytest.fixture
def settings(default_settings: Settings) -> Settings:
    """The default settings, on an empty database and an empty data directory."""
    reset_database(str(default_settings.database_url))
    empty_directory(default_settings.data_dir)
    return default_settings


def empty_directory(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@pytest.fixture(scope="session")
def shared_marid(default_settings: Settings) -> Iterator[Marid]:
    """The session's marid; the `marid` fixture starts and stops it around each test."""
    instance = wired(default_settings)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def shared_client(shared_marid: Marid, default_settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(default_settings, marid=shared_marid)) as test_client:
        yield test_client


@pytest.fixture
def make_marid(settings: Settings) -> Iterator[Callable[..., Marid]]:
    """Started marids of the test's own (other settings, a clock), closed after it."""
    made: list[Marid] = []

    def make(
        with_settings: Settings | None = None, clock: Callable[[], datetime] = utcnow
    ) -> Marid:
        instance = wired(with_settings or settings, clock)
        made.append(instance)
        instance.start()
        return instance

    yield make
    for instance in reversed(made):
        instance.close()


@pytest.fixture
def marid(
    settings: Settings, default_settings: Settings, request: pytest.FixtureRequest
) -> Iterator[Marid]:
    """A wired marid on a clean database, with its projection runners started."""
    if settings != default_settings:
        make: Callable[..., Marid] = request.getfixturevalue("make_marid")
        yield make(settings)
        return
    instance: Marid = request.getfixturevalue("shared_marid")
    wiring = dict(vars(instance))  # what a test may reassign (`marid.settings = ...`)
    clock = instance.app.clock
    instance.app.recorder.log_horizon.forget()  # the database was emptied under it
    instance.start()
    yield instance
    instance.stop()
    for name, value in wiring.items():
        if not isinstance(getattr(Marid, name, None), cached_property):  # stop() renews them
            setattr(instance, name, value)
    instance.app.clock = clock


@pytest.fixture
def client(
    marid: Marid, settings: Settings, default_settings: Settings, request: pytest.FixtureRequest
) -> Iterator[Client]:
    """The API around `marid` (the session's, with fresh request counters, when the test
    runs with the default settings)."""
    if settings != default_settings:
        with TestClient(create_app(settings, marid=marid)) as test_client:
            yield test_client
        return
    shared: Client = request.getfixturevalue("shared_client")
    fresh_counters(shared.app, settings)
    yield shared


class Users:
    """Makes users with tokens, for tests."""

    def __init__(self, marid: Marid) -> None:
        self.marid = marid

    def create(self, username: str, scopes: str | None = None) -> tuple[int, dict[str, str]]:
        """A new user and the Authorization header of a token with `scopes` (default all)."""
        app = self.marid.app
        user_id = app.register_user(username, f"{username}@example.com", TEST_ORIGIN).value
        token = generate_token()
        granted = Scopes.parse(scopes) if scopes is not None else Scopes.all()
        outcome = app.create_token(user_id, "test", hash_token(token), granted, None, TEST_ORIGIN)
        self.marid.settle(outcome)
        return user_id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def users(marid: Marid) -> Users:
    return Users(marid)
