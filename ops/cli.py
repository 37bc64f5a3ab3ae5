"""The `marid` command line: parses the arguments, reads the settings, runs the command and
turns its errors into one line on stderr (exit status 2). The commands live in their own
modules (`ops.accounts`, `ops.projections`, `ops.processes`, `ops.serve`, `ops.audit`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from domain.errors import DomainError, NotFoundError, ValidationError
from domain.scopes import ScopeError
from infrastructure import logs
from infrastructure.settings import Settings, SettingsError
from ops.accounts import cmd_tokens, cmd_users
from ops.arguments import UsageError
from ops.blobs import cmd_blobs
from ops.parser import build_parser
from ops.processes import cmd_scheduler, cmd_webhooks, cmd_worker
from ops.projections import cmd_projections


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


def fail(message: str) -> NoReturn:
    print(f"marid: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    from ops.serve import serve

    serve(settings, host=args.host, port=args.port, api_only=args.api_only)


def cmd_audit(settings: Settings, args: argparse.Namespace) -> None:
    from ops.audit import run

    run(settings, args)


HANDLERS: dict[str, Callable[[Settings, argparse.Namespace], None]] = {
    "serve": cmd_serve,
    "users": cmd_users,
    "tokens": cmd_tokens,
    "projections": cmd_projections,
    "audit": cmd_audit,
    "scheduler": cmd_scheduler,
    "webhooks": cmd_webhooks,
    "worker": cmd_worker,
    "blobs": cmd_blobs,
}
