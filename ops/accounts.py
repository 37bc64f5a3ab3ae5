"""`marid users` and `marid tokens`: accounts and their tokens, from the command line."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

from domain.origin import Origin
from domain.scopes import Scopes
from infrastructure.settings import Settings
from ops.arguments import UsageError
from ops.wiring import one_shot

if TYPE_CHECKING:
    from infrastructure.bootstrap import Marid
    from projections.rows import UserRow

CLI_ORIGIN = Origin.system("cli")


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


def all_users(marid: Marid) -> list[UserRow]:
    from projections.rows import user_columns, user_from

    sql = f"SELECT {user_columns('u', 'u_')} FROM users u ORDER BY u.id"
    return [user_from(row) for row in marid.users.fetch_all(sql)]
