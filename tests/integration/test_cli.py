"""The `marid` command line, run as the real executable against the test database."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient

from domain.scopes import Scopes
from infrastructure.settings import Settings
from infrastructure.tokens import hash_token
from projections.registry import PROJECTIONS

MARID = str(Path(sys.executable).with_name("marid"))
REBUILT = re.compile(r"rebuilt (\w+) from (\d+) events in \d+\.\d s, [\d,]+ events/s\n")


def rebuilt(stdout: str) -> tuple[str, int] | None:
    """The read model and event count of a `projections rebuild NAME` summary line."""
    match = REBUILT.fullmatch(stdout)
    return (match[1], int(match[2])) if match else None


TOKEN = re.compile(r"^marid_[0-9a-f]{40}$")


class Cli:
    """Runs `marid` with the test settings in its environment, as an operator would."""

    def __init__(self, settings: Settings) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARID_")}
        env.update(
            MARID_DATABASE_URL=str(settings.database_url),
            MARID_DATA_DIR=str(settings.data_dir),
            MARID_SECRET_KEY=str(settings.secret_key),
            MARID_LOG_LEVEL="WARNING",
        )
        self.env = env

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MARID, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str) -> str:
        """stdout of a command that must succeed."""
        result = self(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli(settings)


def assert_usage_error(result: subprocess.CompletedProcess[str]) -> None:
    """Exit status 2, nothing on stdout, one `marid: error:` line on stderr, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("marid: error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def token_rows(database: str, username: str) -> list[tuple[str, str, datetime | None, bool]]:
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT t.name, t.scopes, t.expires_at, t.revoked FROM tokens t "
            "JOIN users u ON u.id = t.user_id WHERE u.username = %s ORDER BY t.id",
            (username,),
        ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


# --- users -------------------------------------------------------------------------------


def test_users_create_prints_the_new_users_id(cli: Cli, database: str) -> None:
    out = cli.ok("users", "create", "alice", "--email", "alice@example.com")

    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT username, email FROM users WHERE id = %s", (int(out),)
        ).fetchone()
    assert re.fullmatch(r"\d+\n", out)
    assert row == ("alice", "alice@example.com")


@pytest.mark.parametrize(
    "args",
    [
        ["alice", "--email", "other@example.com"],
        ["ALICE", "--email", "x@example.com"],
        ["bob", "--email", "alice@example.com"],
        ["b", "--email", "nope"],
        ["bob"],
        ["--email", "bob@example.com"],
    ],
)
def test_users_create_with_bad_arguments_is_a_usage_error(cli: Cli, args: list[str]) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")

    result = cli("users", "create", *args)

    assert_usage_error(result)


# --- tokens ------------------------------------------------------------------------------


def test_tokens_create_prints_only_the_token_which_authenticates(
    cli: Cli,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")

    out = cli.ok("tokens", "create", "alice")

    token = out.removesuffix("\n")
    assert TOKEN.match(token)
    response = client.get("/api/user", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_tokens_create_without_scope_grants_every_scope(cli: Cli, database: str) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")

    cli.ok("tokens", "create", "alice")

    assert token_rows(database, "alice") == [("cli", str(Scopes.all()), None, False)]


def test_tokens_create_records_scope_name_and_expiry(cli: Cli, database: str) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")
    before = datetime.now(UTC)

    cli.ok(
        "tokens", "create", "alice",
        "--scope", "namespace:read build:read,write", "--name", "deploy", "--expires-in", "7",
    )  # fmt: skip

    [(name, scopes, expires_at, revoked)] = token_rows(database, "alice")
    assert (name, scopes, revoked) == ("deploy", "build:read,write namespace:read", False)
    assert expires_at is not None
    assert before + timedelta(days=7) <= expires_at <= datetime.now(UTC) + timedelta(days=7)


def test_token_from_the_cli_is_stored_only_as_its_sha256_hash(cli: Cli, database: str) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")

    token = cli.ok("tokens", "create", "alice").strip()

    with psycopg.connect(database) as conn:
        table = conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE '%%\\_events'"
        ).fetchone()
        assert table is not None
        in_events = conn.execute(
            f"SELECT count(*) FILTER (WHERE position(%s::bytea IN state) > 0), "
            f"count(*) FILTER (WHERE position(%s::bytea IN state) > 0) FROM {table[0]}",
            (token.encode(), hash_token(token).encode()),
        ).fetchone()
        in_tokens = conn.execute(
            "SELECT count(*) FILTER (WHERE t::text LIKE %s), "
            "count(*) FILTER (WHERE token_hash = %s) FROM tokens t",
            (f"%{token}%", hash_token(token)),
        ).fetchone()
    assert in_events == (0, 1)
    assert in_tokens == (0, 1)


@pytest.mark.parametrize(
    "args",
    [
        ["nobody"],
        ["alice", "--scope", "bogus:read"],
        ["alice", "--scope", "namespace:admin"],
        ["alice", "--scope", "namespace"],
        ["alice", "--scope", ""],
        ["alice", "--expires-in", "0"],
        ["alice", "--expires-in", "-3"],
        ["alice", "--expires-in", "soon"],
        ["alice", "--expires-in", "99999999"],
        ["alice", "--name", ""],
        ["alice", "--name", "n" * 65],
        [],
    ],
)
def test_tokens_create_with_bad_arguments_is_a_usage_error(
    cli: Cli, database: str, args: list[str]
) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")

    result = cli("tokens", "create", *args)

    assert_usage_error(result)
    assert token_rows(database, "alice") == []


def test_tokens_list_shows_each_token_with_its_state(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")
    cli.ok("tokens", "create", "alice", "--name", "laptop")
    cli.ok("tokens", "create", "alice", "--name", "ci", "--scope", "build:read")
    first_id = cli.ok("tokens", "list", "alice").splitlines()[0].split("\t")[0]
    cli.ok("tokens", "revoke", first_id)

    out = cli.ok("tokens", "list", "alice")

    lines = [line.split("\t") for line in out.splitlines()]
    assert [(f[1], f[2], f[4]) for f in lines] == [
        ("laptop", "revoked", str(Scopes.all())),
        ("ci", "active", "build:read"),
    ]


def test_tokens_revoke_makes_the_token_401(
    cli: Cli,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")
    revoked = cli.ok("tokens", "create", "alice").strip()
    kept = cli.ok("tokens", "create", "alice").strip()
    token_id = cli.ok("tokens", "list", "alice").splitlines()[0].split("\t")[0]

    cli.ok("tokens", "revoke", token_id)

    assert (
        client.get("/api/user", headers={"Authorization": f"Bearer {revoked}"}).status_code == 401
    )
    assert client.get("/api/user", headers={"Authorization": f"Bearer {kept}"}).status_code == 200


@pytest.mark.parametrize(
    "args",
    [["tokens", "revoke", "999"], ["tokens", "revoke", "one"], ["tokens", "list", "nobody"]],
)
def test_tokens_commands_with_bad_arguments_are_usage_errors(cli: Cli, args: list[str]) -> None:
    result = cli(*args)

    assert_usage_error(result)


# --- projections -----------------------------------------------------------------------


def test_projections_status_shows_position_and_lag_of_each_projection(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")
    cli.ok("tokens", "create", "alice")

    out = cli.ok("projections", "status")

    header, *rows = [line.split("\t") for line in out.splitlines()]
    assert header[:5] == ["projection", "position", "head", "lag", "lag seconds"]
    status = {row[0]: (int(row[1]), int(row[2]), int(row[3]), float(row[4])) for row in rows}
    assert set(status) == {*PROJECTIONS, "webhook_dispatch"}
    position, head, lag, seconds = status["users"]
    # Caught up: the last events (the token's name index) are none of its topics.
    assert (lag, seconds) == (0, 0.0), out
    assert 0 < position <= head
    assert status["webhook_dispatch"][1] == head  # the dispatcher is listed like the others


def test_projections_rebuild_rebuilds_every_read_model_while_the_api_runs(
    cli: Cli,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")
    token = cli.ok("tokens", "create", "alice").strip()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/namespaces", json={"name": "proj"}, headers=auth).status_code == 201

    result = cli("projections", "rebuild")

    assert result.returncode == 0, result.stderr
    assert [line.split(" from ")[0] for line in result.stdout.splitlines()] == [
        f"rebuilt {name}" for name in PROJECTIONS
    ]
    assert result.stderr == ""  # each projection is reported once, on stdout
    assert client.get("/api/user", headers=auth).json()["username"] == "alice"
    assert [ns["name"] for ns in client.get("/api/namespaces", headers=auth).json()] == ["proj"]


def test_projections_rebuild_of_one_read_model_rebuilds_only_it(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")

    result = cli("projections", "rebuild", "users", MARID_LOG_LEVEL="INFO")

    assert result.returncode == 0, result.stderr
    assert rebuilt(result.stdout) == ("users", 1), result.stdout
    assert "users" not in result.stderr  # not once more in the log, nor a progress line


def test_projections_rebuild_on_a_terminal_shows_progress_in_place(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")
    cli.ok("users", "create", "bob", "--email", "bob@example.com")
    controller, terminal = pty.openpty()  # stderr on a terminal, stdout piped
    try:
        result = subprocess.run(
            [MARID, "projections", "rebuild", "users"],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=60,
            check=False,
        )
        os.close(terminal)
        drawn = read_all(controller)
    finally:
        os.close(controller)

    assert result.returncode == 0
    assert rebuilt(result.stdout) == ("users", 2), result.stdout
    assert re.search(r"\r\x1b\[Kusers: 2/2 events \(100%\), [\d,]+ events/s, ETA 0s", drawn)
    assert drawn.endswith("\r\x1b[K")  # erased when done


def read_all(fd: int) -> str:
    """What a process wrote to a pseudo-terminal, once it has exited."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: no writer left
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_projections_verify_exits_0_when_read_models_equal_a_rebuild(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")

    out = cli.ok("projections", "verify")

    assert [line.split(":")[0] for line in out.splitlines()] == list(PROJECTIONS)
    assert out.splitlines()[0].startswith("users: 3 tables equal at notification ")


def test_projections_verify_and_rebuild_report_a_corrupted_table(cli: Cli, database: str) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")
    cli.ok("users", "create", "bob", "--email", "bob@example.com")
    with psycopg.connect(database) as conn:
        conn.execute("DELETE FROM users WHERE username = 'bob'")

    verified = cli("projections", "verify", "users")
    refused = cli("projections", "rebuild", "users")
    still_corrupt = cli("projections", "verify", "users")
    forced = cli("projections", "rebuild", "users", "--force")
    repaired = cli("projections", "verify", "users")

    assert verified.returncode == 1
    assert "users: live 1 rows (md5 " in verified.stdout
    assert "rebuilt 2 rows" in verified.stdout
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "users: live 1 rows" in refused.stderr
    assert "not swapped: --force swaps it in anyway" in refused.stderr
    assert still_corrupt.returncode == 1
    assert (forced.returncode, rebuilt(forced.stdout)) == (0, ("users", 2))
    assert "swapped in all the same (forced)" in forced.stderr
    assert repaired.returncode == 0, repaired.stdout


# --- arguments and environment ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        ["users"],
        ["users", "delete", "alice"],
        ["tokens"],
        ["projections", "rebuild", "nosuch"],
        ["projections", "status", "extra"],
        ["serve", "--port", "http"],
        ["serve", "--port", "0"],
        ["serve", "--port", "70000"],
        ["serve", "--bogus"],
    ],
)
def test_bad_arguments_are_a_one_line_error_with_status_2(cli: Cli, args: list[str]) -> None:
    result = cli(*args)

    assert_usage_error(result)


@pytest.mark.parametrize(
    ("key", "value"), [("MARID_MAX_BODY_SIZE", "lots"), ("MARID_DB_POOL_SIZE", "0")]
)
def test_bad_environment_is_a_one_line_error_with_status_2(cli: Cli, key: str, value: str) -> None:
    result = cli("projections", "status", **{key: value})

    assert_usage_error(result)
    assert key in result.stderr
