"""The `marid` command line: serve, users, tokens, projections, audit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn

from domain.errors import DomainError, NotFoundError, ValidationError
from domain.origin import Origin
from domain.scopes import ScopeError, Scopes
from infrastructure import logs
from infrastructure.settings import Settings, SettingsError, parse_duration
from ops.arguments import positive
from ops.audit import add_parser as add_audit_parser

if TYPE_CHECKING:
    from infrastructure.bootstrap import Marid
    from projections.rows import UserRow

CLI_ORIGIN = Origin.system("cli")


class UsageError(Exception):
    """Raised for bad arguments: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"marid: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def port(text: str) -> int:
    """A TCP port number, for `--port`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {value}")
    return value


def duration(text: str) -> timedelta:
    """`30m`, `90s`, `1h`, `1h30m`, for `--timeout` and `--lease`."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        # Only commands that run builds or fire crons need to know whether Docker answers
        # (the default drivers); asking it takes a slow import and a round trip.
        runs_builds = args.command in ("serve", "scheduler", "worker", "webhooks")
        settings = Settings.from_env(docker_answers=None if runs_builds else no_docker)
        logs.configure(settings.log_level, settings.log_format)
        handler = HANDLERS[args.command]
        handler(settings, args)
    except (UsageError, SettingsError, ScopeError) as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.fields.items()))
    except NotFoundError as exc:
        fail(f"no such {exc.what}")
    except DomainError as exc:
        fail(str(exc))


def no_docker(env: object) -> bool:
    """The drivers of a command that runs no build: no need to ask Docker."""
    return False


def all_users(marid: Marid) -> list[UserRow]:
    from projections.rows import user_columns, user_from

    sql = f"SELECT {user_columns('u', 'u_')} FROM users u ORDER BY u.id"
    return [user_from(row) for row in marid.users.fetch_all(sql)]


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("marid")
    except PackageNotFoundError:
        return "dev"


def fail(message: str) -> NoReturn:
    print(f"marid: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    from ops.serve import serve

    serve(settings, host=args.host, port=args.port, api_only=args.api_only)


def one_shot(settings: Settings) -> Marid:
    """A `Marid` for a command that answers and exits: tables are created only on a database
    that lacks some (a fresh one); `serve` and the runners upgrade them."""
    return wired(settings, always_migrate=False)


def long_running(settings: Settings) -> Marid:
    """A `Marid` for a process that runs until stopped: its tables created and upgraded."""
    return wired(settings, always_migrate=True)


def wired(settings: Settings, *, always_migrate: bool) -> Marid:
    from infrastructure.bootstrap import bootstrap

    marid = bootstrap(settings)
    try:
        if always_migrate or not marid.migrated():
            marid.migrate()
    except BaseException:
        marid.close()
        raise
    return marid


def cmd_users(settings: Settings, args: argparse.Namespace) -> None:
    marid = one_shot(settings)
    try:
        if args.action == "list":
            marid.catch_up()
            print("id\tusername\temail\tcreated")
            for user in all_users(marid):
                print(f"{user.id}\t{user.username}\t{user.email}\t{user.created_at.isoformat()}")
            return
        user_id = marid.app.register_user(
            args.username, args.email, CLI_ORIGIN, admin=args.admin
        ).value
        marid.catch_up()
        print(user_id)
    finally:
        marid.close()


def cmd_tokens(settings: Settings, args: argparse.Namespace) -> None:
    from infrastructure.tokens import generate_token, hash_token

    marid = one_shot(settings)
    try:
        if args.action == "revoke":
            marid.app.revoke_token(args.token_id, CLI_ORIGIN)
            marid.catch_up()
            print(f"revoked token {args.token_id}")
            return
        user_id = marid.app.user_id_for(args.username)
        if user_id is None:
            raise UsageError(f"no such user: {args.username}")
        if args.action == "list":
            marid.catch_up()
            for t in marid.users.tokens(user_id):
                expires = t.expires_at.isoformat() if t.expires_at else "never"
                state = "revoked" if t.revoked else "active"
                print(f"{t.id}\t{t.name}\t{state}\texpires {expires}\t{t.scopes}")
            return
        scopes = Scopes.parse(args.scope) if args.scope is not None else Scopes.all()
        if args.expires_in is not None and args.expires_in <= 0:
            raise UsageError("--expires-in must be a positive number of days")
        expires_at = None
        if args.expires_in is not None:
            try:
                expires_at = marid.clock() + timedelta(days=args.expires_in)
            except OverflowError:
                raise UsageError("--expires-in is too far in the future") from None
        token = generate_token()
        marid.app.create_token(
            user_id, args.name, hash_token(token), scopes, expires_at, CLI_ORIGIN
        )
        marid.catch_up()
        print(token)
    finally:
        marid.close()


def cmd_projections(settings: Settings, args: argparse.Namespace) -> None:
    from projections.maintenance import RebuildRunningError, status
    from projections.registry import PROJECTIONS

    marid = one_shot(settings) if args.action == "status" else long_running(settings)
    try:
        if args.action == "status":
            print("projection\tposition\thead\tlag\tlag seconds\tgaps missing\tgaps skipped")
            rows = [status(marid.app, p) for p in marid.projections.values()]
            rows.append(marid.webhook_dispatcher.status())
            for s in rows:
                print(
                    f"{s.name}\t{s.position}\t{s.head}\t{s.lag}\t{s.lag_seconds:.1f}\t"
                    f"{s.missing}\t{s.skipped}"
                )
        elif args.action in ("rebuild", "verify"):
            from ops.rebuild import rebuild_all, verify_all

            if args.name is not None and args.name not in PROJECTIONS:
                raise UsageError(
                    f"no such projection: {args.name} (one of {', '.join(PROJECTIONS)})"
                )
            names = [args.name] if args.name else list(PROJECTIONS)
            try:
                if args.action == "rebuild":
                    code = rebuild_all(marid, names, force=args.force)
                else:
                    code = verify_all(marid, names)
            except RebuildRunningError as exc:
                raise DomainError(str(exc)) from None
            if code:
                raise SystemExit(code)  # a read model differs from its rebuild: reported
        else:
            marid.start()
            print("projection runners started; Ctrl-C stops them", flush=True)
            wait_for_signal()
    finally:
        marid.close()


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> None:
    """The cron scheduler alone (no API); safe beside other schedulers."""
    from dataclasses import replace

    marid = long_running(replace(settings, run_scheduler=True))
    try:
        marid.start()
        print("cron scheduler started; Ctrl-C stops it", flush=True)
        wait_for_signal()
    finally:
        marid.close()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    """A build worker alone (no API); any number may run against one database."""
    from infrastructure.drivers import IMPLEMENTED, describe
    from infrastructure.worker import WorkerConfig, default_name

    drivers = tuple(args.driver or (d for d in settings.drivers if d in IMPLEMENTED))
    for name in drivers:
        if name not in IMPLEMENTED:
            raise UsageError(f"no such driver: {name} (one of {', '.join(IMPLEMENTED)})")
    if not drivers:
        raise UsageError(
            f"MARID_DRIVERS enables no driver a worker runs ({', '.join(IMPLEMENTED)})"
        )
    config = WorkerConfig(
        name=args.name or default_name(),
        parallelism=args.parallelism or settings.worker_parallelism,
        timeout=args.timeout or settings.worker_timeout,
        lease=args.lease or settings.worker_lease,
    )
    marid = long_running(settings)
    try:
        marid.start_worker(config, drivers)
        for line in describe(settings, drivers):
            print(f"    {line}", flush=True)
        print(
            f"worker {config.name} running {', '.join(drivers)} builds; Ctrl-C stops it", flush=True
        )
        wait_for_signal()
    finally:
        marid.close()


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> None:
    """The webhook dispatcher and senders without the API; safe beside other processes
    (one dispatcher leads, senders share the outbox)."""
    from dataclasses import replace

    from api.webhook_payloads import WebhookPayloads

    marid = long_running(replace(settings, run_webhooks=True))
    try:
        marid.webhook_dispatcher.install(WebhookPayloads(marid))
        marid.start()
        print("webhook delivery started; Ctrl-C stops it", flush=True)
        wait_for_signal()
    finally:
        marid.close()


def cmd_audit(settings: Settings, args: argparse.Namespace) -> None:
    from ops.audit import run

    run(settings, args)


def wait_for_signal() -> None:
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


HANDLERS: dict[str, Callable[[Settings, argparse.Namespace], None]] = {
    "serve": cmd_serve,
    "users": cmd_users,
    "tokens": cmd_tokens,
    "projections": cmd_projections,
    "audit": cmd_audit,
    "scheduler": cmd_scheduler,
    "webhooks": cmd_webhooks,
    "worker": cmd_worker,
}
