"""`marid users` and `marid tokens`: accounts and their tokens, from the command line."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from domain.origin import Origin
from domain.scopes import Scopes
from infrastructure.settings import Settings
from ops.arguments import UsageError
from ops.wiring import one_shot

CLI_ORIGIN = Origin.system("cli")


def cmd_users(settings: Settings, args: argparse.Namespace) -> None:
    # Read before connecting: a usage error should not wait for the database.
    wants_password = args.action == "password" or getattr(args, "password_stdin", False)
    password = read_password() if wants_password else None
    marid = one_shot(settings)
    try:
        if args.action == "list":
            marid.catch_up()
            print("id\tusername\temail\tcreated\tdisabled")
            for user in marid.users.all_users():
                disabled = "yes" if user.disabled else "no"
                created = user.created_at.isoformat()
                print(f"{user.id}\t{user.username}\t{user.email}\t{created}\t{disabled}")
            return
        if args.action == "create":
            user_id = marid.app.register_user(
                args.username, args.email, CLI_ORIGIN, admin=args.admin, password=password
            ).value
            marid.catch_up()
            print(user_id)
            return
        found = marid.app.user_id_for(args.username)
        if found is None:
            raise UsageError(f"no such user: {args.username}")
        if args.action == "password":
            assert password is not None  # read above for this action
            marid.app.set_password(found, password, CLI_ORIGIN)
            print(f"password of {args.username} set")
        else:
            marid.app.disable_user(found, CLI_ORIGIN)
            marid.catch_up()  # its tokens stop working once the read model has it
            print(f"disabled {args.username}")
    finally:
        marid.close()


def read_password() -> str:
    """The password on the first line of stdin (its line break is not part of it)."""
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise UsageError("no password on stdin")
    return password


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
