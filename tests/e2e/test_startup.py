"""`marid serve` against a PostgreSQL that refuses connections: it waits, logging each
retry, and gives up with one line; a first start never loses the admin token."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.startup import DatabaseUnreachableError, Startup
from infrastructure.tokens import hash_token
from ops.serve import announce_admin
from tests.e2e.test_serve import Server, free_port

pytestmark = pytest.mark.e2e

EXIT_TIMEOUT = 30.0


def test_unreachable_database_exits_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    url = f"postgresql://postgres@127.0.0.1:{closed}/postgres"
    started = time.monotonic()

    server = Server(
        tmp_path / "data",
        tmp_path / "serve.log",
        MARID_DATABASE_URL=url,
        MARID_STARTUP_TIMEOUT="2",
        MARID_DRIVERS="os",
    )
    status = server.process.wait(timeout=EXIT_TIMEOUT)

    output = server.output()
    lines = output.strip().splitlines()
    assert status == 1, output
    assert time.monotonic() - started < 15  # the bound, and the start of the interpreter
    assert "Traceback" not in output
    assert lines[-1].startswith("marid: PostgreSQL is unreachable (connection"), output
    assert lines[-1].endswith("while connecting; gave up after 2 s (MARID_STARTUP_TIMEOUT)")
    retries = [line for line in lines if "retry" in line and "marid.startup" in line]
    assert len(retries) >= 2, output  # one line per retry, with the reason
    assert all(str(closed) in line or "refused" in line for line in retries), retries


@pytest.fixture
def limited_role(pg_server: str) -> Iterator[tuple[str, int]]:
    """A database owned by a role that may hold only a few connections: the URL, the limit."""
    name = f"marid_limited_{secrets.token_hex(3)}"
    limit = 40
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN CONNECTION LIMIT {limit}")
        conn.execute(f"CREATE DATABASE {name} OWNER {name}")
    yield make_conninfo(pg_server, user=name, dbname=name, password=""), limit
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {name}")


def test_first_start_waits_for_free_connections_then_creates_a_usable_token(
    limited_role: tuple[str, int], tmp_path: Path
) -> None:
    url, limit = limited_role
    held = [psycopg.connect(url) for _ in range(limit)]  # every slot the role has
    data_dir = tmp_path / "data"
    server = Server(
        data_dir,
        tmp_path / "serve.log",
        MARID_DATABASE_URL=url,
        MARID_STARTUP_TIMEOUT="60",
        MARID_DB_POOL_SIZE="2",
        MARID_DRIVERS="os",
        MARID_RUN_WORKER="0",
    )
    try:
        wait_for(lambda: "too many connections for role" in server.output(), server)
        for conn in held:
            conn.close()
        server.wait_until_up()
        token = (data_dir / "admin-token").read_text().strip()
        answer = httpx.get(f"{server.url}/api/user", headers={"Authorization": f"Bearer {token}"})
    finally:
        for conn in held:
            conn.close()
        server.stop()

    output = server.output()
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == "admin"
    assert "PostgreSQL is unreachable while connecting (" in output
    assert "Traceback" not in output


def wait_for(condition: object, server: Server) -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT
    while not condition():  # type: ignore[operator]
        if server.process.poll() is not None:
            pytest.fail(f"marid serve exited early:\n{server.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"marid serve did not retry:\n{server.output()}")
        time.sleep(0.1)


def test_first_start_writes_the_token_before_a_step_that_fails(
    marid: Marid, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_connections() -> None:
        raise psycopg.OperationalError("FATAL:  sorry, too many clients already")

    monkeypatch.setattr(marid, "catch_up", out_of_connections)
    startup = Startup(0.2, sleep=lambda _: None)
    token_file = marid.settings.data_dir / "admin-token"

    with pytest.raises(DatabaseUnreachableError, match="too many clients"):
        announce_admin(marid, "127.0.0.1", 8000, startup)

    token = token_file.read_text().strip()
    monkeypatch.undo()
    marid.catch_up()
    found = marid.users.authenticate(hash_token(token), marid.clock())
    assert found is not None
    assert found[0].username == "admin"


def test_next_start_gives_the_files_token_to_an_admin_left_without_one(
    marid: Marid, capsys: pytest.CaptureFixture[str]
) -> None:
    origin = Origin.system("serve")
    marid.app.register_user("admin", "admin@localhost", origin, admin=True)  # then it died
    token_file = marid.settings.data_dir / "admin-token"
    token_file.write_text("the-token-written-first\n")

    announce_admin(marid, "127.0.0.1", 8000, Startup(5.0))

    found = marid.users.authenticate(hash_token("the-token-written-first"), marid.clock())
    assert found is not None
    assert found[0].username == "admin"
    assert f"the admin token is in {token_file}" in capsys.readouterr().out


def test_a_working_token_is_left_alone_on_later_starts(
    marid: Marid, capsys: pytest.CaptureFixture[str]
) -> None:
    announce_admin(marid, "127.0.0.1", 8000, Startup(5.0))
    token = (marid.settings.data_dir / "admin-token").read_text().strip()
    capsys.readouterr()

    announce_admin(marid, "127.0.0.1", 8000, Startup(5.0))

    admin = marid.users.user_by_name("admin")
    assert admin is not None
    assert len(marid.users.tokens(admin.id)) == 1
    assert marid.users.authenticate(hash_token(token), marid.clock()) is not None
    assert token not in capsys.readouterr().out
