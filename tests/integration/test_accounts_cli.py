"""`marid users create --password-stdin`, `users password`, `users disable` and `users
list`, run as the real executable against the test database."""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from litestar.testing import TestClient

from infrastructure.settings import Settings
from tests.integration.test_cli import MARID, Cli, assert_usage_error

PASSWORD = "a long enough password"


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli(settings)


def with_stdin(cli: Cli, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MARID, *args], env=cli.env, input=stdin, capture_output=True, text=True, timeout=60
    )


def password_hash(database: str, username: str) -> str | None:
    """The latest password hash recorded for a user (from the event log)."""
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT convert_from(e.state, 'UTF8')::jsonb ->> 'password_hash' FROM marid_events e "
            "WHERE e.topic = 'domain.users:User.PasswordSet' AND e.originator_id = ("
            " SELECT originator_id FROM marid_events WHERE topic = 'domain.users:User.Registered'"
            " AND convert_from(state, 'UTF8')::jsonb ->> 'username' = %s) "
            "ORDER BY e.originator_version DESC LIMIT 1",
            (username,),
        ).fetchone()
    return None if row is None else row[0]


def test_users_create_reads_a_password_from_stdin(cli: Cli, database: str) -> None:
    result = with_stdin(
        cli, PASSWORD + "\n", "users", "create", "alice", "--email", "a@example.com",
        "--password-stdin",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    stored = password_hash(database, "alice")
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_users_create_with_a_short_password_is_a_usage_error(cli: Cli) -> None:
    result = with_stdin(
        cli, "short\n", "users", "create", "alice", "--email", "a@example.com", "--password-stdin"
    )

    assert_usage_error(result)
    assert "password" in result.stderr


def test_users_create_with_nothing_on_stdin_is_a_usage_error(cli: Cli) -> None:
    result = with_stdin(
        cli, "", "users", "create", "alice", "--email", "a@example.com", "--password-stdin"
    )

    assert_usage_error(result)
    assert result.stderr == "marid: error: no password on stdin\n"


def test_users_password_sets_a_new_password(cli: Cli, database: str) -> None:
    cli.ok("users", "create", "alice", "--email", "a@example.com")

    result = with_stdin(cli, "another long password\n", "users", "password", "alice")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "password of alice set\n"
    assert (password_hash(database, "alice") or "").startswith("$argon2id$")


def test_users_password_of_an_unknown_user_is_a_usage_error(cli: Cli) -> None:
    assert_usage_error(with_stdin(cli, PASSWORD + "\n", "users", "password", "nobody"))


def test_users_disable_stops_the_users_tokens_and_shows_in_list(
    cli: Cli,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    cli.ok("users", "create", "alice", "--email", "a@example.com")
    cli.ok("users", "create", "bob", "--email", "b@example.com")
    token = cli.ok("tokens", "create", "alice").strip()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/user", headers=auth).status_code == 200

    out = cli.ok("users", "disable", "alice")

    assert out == "disabled alice\n"
    assert client.get("/api/user", headers=auth).status_code == 401
    listed = [line.split("\t") for line in cli.ok("users", "list").splitlines()]
    assert listed[0] == ["id", "username", "email", "created", "disabled"]
    assert [(row[1], row[4]) for row in listed[1:]] == [("alice", "yes"), ("bob", "no")]


def test_users_disable_of_an_unknown_user_is_a_usage_error(cli: Cli) -> None:
    assert_usage_error(cli("users", "disable", "nobody"))


def test_users_disable_without_a_name_is_a_usage_error(cli: Cli) -> None:
    assert_usage_error(cli("users", "disable"))
