"""The `marid` argument parser: every command, its arguments and their help."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from ops.arguments import duration, port, positive
from ops.audit import add_parser as add_audit_parser


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"marid: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> Parser:
    parser = Parser(prog="marid", description="marid: an event-sourced CI server")
    parser.add_argument("--version", action="version", version=f"marid {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API (and projections) on one node")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=None, help="port to listen on (default 8000)")
    serve.add_argument("--api-only", action="store_true", help="run no projection runners")

    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    users.add_parser("list", help="list every user")
    create_user = users.add_parser("create", help="create a user; prints its id")
    create_user.add_argument("username", help="letters, digits, - and _")
    create_user.add_argument("--email", required=True, help="the user's email address")
    create_user.add_argument(
        "--admin", action="store_true", help="an administrator (may read the audit log)"
    )
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a password (to sign in on the web pages) from the first line of stdin",
    )
    password = users.add_parser("password", help="set a user's password, read from stdin")
    password.add_argument("username", help="whose password")
    disable = users.add_parser("disable", help="disable a user: no sign-in, tokens stop working")
    disable.add_argument("username", help="who")

    tokens = commands.add_parser("tokens", help="manage tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create_token = tokens.add_parser("create", help="create a token; prints it once")
    create_token.add_argument("username", help="whose token")
    create_token.add_argument(
        "--scope", default=None, help='e.g. "build:read,write namespace:read"'
    )
    create_token.add_argument("--name", default="cli", help="the token's name (default cli)")
    create_token.add_argument(
        "--expires-in", type=positive, default=None, metavar="DAYS", help="(default: never)"
    )
    list_tokens = tokens.add_parser("list", help="list a user's tokens")
    list_tokens.add_argument("username", help="whose tokens")
    revoke = tokens.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token_id", type=positive, help="the id `tokens list` shows")

    projections = commands.add_parser("projections", help="read models").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    projections.add_parser("status", help="position and lag of each projection")
    rebuild = projections.add_parser("rebuild", help="rebuild read models from the event log")
    rebuild.add_argument("name", nargs="?", help="one read model (default: every one)")
    rebuild.add_argument(
        "--force",
        action="store_true",
        help="swap in a rebuild that differs from the live read model (default: refuse)",
    )
    verify = projections.add_parser(
        "verify", help="compare read models with a rebuild of them; exit 1 if one differs"
    )
    verify.add_argument("name", nargs="?", help="one read model (default: every one)")
    projections.add_parser("run", help="run the projection runners in this process")

    commands.add_parser("scheduler", help="fire due crons (and run projections), without the API")

    blobs = commands.add_parser("blobs", help="stored files").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    sweep = blobs.add_parser("sweep", help="remove files no object, image or artifact names")
    sweep.add_argument("--dry-run", action="store_true", help="list them, remove nothing")

    webhooks = commands.add_parser("webhooks", help="webhook delivery").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    webhooks.add_parser("run", help="deliver webhooks (and run projections), without the API")

    worker = commands.add_parser("worker", help="run builds: claim queued builds and run them")
    worker.add_argument(
        "--driver",
        action="append",
        metavar="NAME",
        help="a driver to run (repeatable; default: the enabled drivers, MARID_DRIVERS)",
    )
    worker.add_argument(
        "--parallelism",
        type=positive,
        metavar="N",
        help="builds at once (default MARID_WORKER_PARALLELISM, 2)",
    )
    worker.add_argument(
        "--timeout",
        type=duration,
        metavar="DURATION",
        help="longest build, e.g. 30m, 1h (default MARID_WORKER_TIMEOUT, 30m)",
    )
    worker.add_argument(
        "--lease",
        type=duration,
        metavar="DURATION",
        help="a dead worker's builds rerun after it, e.g. 30s (default MARID_WORKER_LEASE, 30s)",
    )
    worker.add_argument("--name", help="the worker's name in the audit log (default host:pid)")

    add_audit_parser(commands)
    return parser


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("marid")
    except PackageNotFoundError:
        return "dev"
