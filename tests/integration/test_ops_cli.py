"""The operator's command line: version, help for every option, usage errors, users list."""

from __future__ import annotations

import argparse
import secrets
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from infrastructure.database import with_database
from infrastructure.settings import Settings
from ops.cli import build_parser
from tests.integration.test_cli import Cli, assert_usage_error


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli(settings)


def every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:  # argparse keeps subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += every_parser(sub)
    return found


def test_version_prints_marids_version(cli: Cli) -> None:
    result = cli("--version")

    assert result.returncode == 0
    assert result.stdout.startswith("marid ")


def test_every_option_and_argument_has_help_text() -> None:
    missing = [
        f"{parser.prog} {action.dest}"
        for parser in every_parser(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]

    assert missing == []


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--limit", "-1"],
        ["tokens", "revoke", "-1"],
        ["tokens", "create", "alice", "--expires-in", "-5"],
        ["worker", "--parallelism", "-2"],
        ["serve", "--port", "-1"],
        ["users", "list", "extra"],
        ["--no-such-option"],
    ],
)
def test_bad_or_negative_arguments_are_one_line_usage_errors(cli: Cli, args: list[str]) -> None:
    assert_usage_error(cli(*args))


def test_users_list_shows_every_user_with_a_header(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--email", "alice@example.com")
    cli.ok("users", "create", "bob", "--email", "bob@example.com")

    lines = cli.ok("users", "list").splitlines()

    assert lines[0].split("\t") == ["id", "username", "email", "created", "disabled"]
    rows = [line.split("\t")[:3] for line in lines[1:]]
    assert [row[1:] for row in rows] == [
        ["alice", "alice@example.com"],
        ["bob", "bob@example.com"],
    ]


def test_json_log_format_applies_to_cli_commands_too(cli: Cli) -> None:
    result = cli("users", "list", MARID_LOG_FORMAT="json", MARID_LOG_LEVEL="INFO")

    assert result.returncode == 0, result.stderr
    for line in result.stderr.splitlines():
        assert line.startswith("{"), line


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["users", "--help"]])
def test_version_and_help_need_no_database(cli: Cli, args: list[str]) -> None:
    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"

    result = cli(*args, MARID_DATABASE_URL=unreachable)

    assert result.returncode == 0, result.stderr
    assert result.stdout


def test_one_shot_commands_work_on_an_empty_database(
    pg_server: str, tmp_path: Path, settings: Settings
) -> None:
    """No `serve` has run: the commands that skip migrating must set up what they need."""
    name = f"marid_empty_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        fresh = Cli(replace(settings, database_url=with_database(pg_server, name)))

        user_id = fresh.ok("users", "create", "bob", "--email", "bob@example.com").strip()
        token = fresh.ok("tokens", "create", "bob", "--scope", "namespace:read").strip()
        users = fresh.ok("users", "list")
        tokens = fresh.ok("tokens", "list", "bob")
        status = fresh.ok("projections", "status")
        audit = fresh.ok("audit", "--json")
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    assert user_id.isdigit()
    assert token.startswith("marid_")
    assert "bob" in users
    assert "namespace:read" in tokens
    assert "users" in status
    assert '"User.Registered"' in audit or "Registered" in audit
