"""Shared fixtures: a PostgreSQL per test session, a clean database state per test.

With MARID_TEST_DATABASE_URL set (CI), tests use that server and fail, never skip, when it
is unreachable. Without it, the session starts an embedded PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient

from api.app import create_app
from application.core import utcnow
from domain.origin import Origin
from domain.scopes import Scopes
from infrastructure.bootstrap import Marid, bootstrap
from infrastructure.database import start_embedded, with_database
from infrastructure.settings import Settings
from infrastructure.tokens import generate_token, hash_token

TEST_ORIGIN = Origin.system("test")
SECRET_KEY = "test-secret-key-of-at-least-32-bytes!!"


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

    DELETE rather than TRUNCATE: on tables this small it is several times faster.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        for table in tables:
            if table.endswith("_tracking"):
                conn.execute(f"DELETE FROM {table} WHERE application_name <> '__migration__'")
            else:
                conn.execute(f"DELETE FROM {table}")
        for (sequence,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall():
            conn.execute(f"ALTER SEQUENCE {sequence} RESTART")


@pytest.fixture
def settings(database: str, tmp_path: Path) -> Settings:
    reset_database(database)
    return Settings(
        database_url=database,
        data_dir=tmp_path,
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


@pytest.fixture
def marid(settings: Settings) -> Iterator[Marid]:
    """A wired marid on a clean database, with its projection runners started."""
    instance = wired(settings)
    instance.start()
    yield instance
    instance.close()


@pytest.fixture
def client(marid: Marid, settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(settings, marid=marid)) as test_client:
        yield test_client


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
