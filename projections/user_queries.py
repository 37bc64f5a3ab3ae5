"""Queries on the users read model, and the last use of each token.

When a token was last used is operational data, not an event: `authenticate` records it
in `marid_token_usage` at most once a minute per token (a process remembers what it
wrote; the table's WHERE keeps other processes from writing more often), so the list of
tokens shows it to the minute.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg
from eventsourcing.postgres import PostgresDatastore

from projections.rows import (
    AccountRow,
    AppRow,
    ConnectionRow,
    Queries,
    TokenRow,
    UserRow,
    row_of,
    user_columns,
    user_from,
)
from projections.users import USAGE_TABLE

log = logging.getLogger("marid.users")

# not a secret: the columns of the tokens table that are safe to read
TOKEN_COLUMNS = ", ".join(
    (
        "t.id, t.user_id, t.name, t.scopes, t.expires_at, t.revoked, t.created_at, t.app_id",
        "usage.last_used_at",
    )
)
TOKENS = f"tokens t LEFT JOIN {USAGE_TABLE} usage ON usage.token_id = t.id"
APP_COLUMNS = (
    "a.id, a.user_id, a.client_id, a.name, a.description, a.homepage_uri, a.redirect_uri, "
    "a.created_at"
)
USAGE_RESOLUTION = timedelta(minutes=1)
MAX_REMEMBERED = 100_000


class UserQueries(Queries):
    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore)
        # token hash -> the last use this process wrote (by hash, not id: a hash is never
        # reused, while a test database's ids restart)
        self._recorded: dict[str, datetime] = {}

    def user(self, user_id: int) -> UserRow | None:
        row = self.fetch_one(
            f"SELECT {user_columns('u', 'u_')} FROM users u WHERE u.id = %s", (user_id,)
        )
        return None if row is None else user_from(row)

    def user_by_name(self, username: str) -> UserRow | None:
        row = self.fetch_one(
            f"SELECT {user_columns('u', 'u_')} FROM users u WHERE lower(u.username) = lower(%s)",
            (username,),
        )
        return None if row is None else user_from(row)

    def is_admin(self, user_id: int) -> bool:
        """Whether the user is an administrator (`admin`, `users create --admin`)."""
        row = self.fetch_one("SELECT admin FROM users WHERE id = %s", (user_id,))
        return bool(row and row["admin"])

    def count_users(self) -> int:
        return self.count("SELECT count(*) AS count FROM users")

    def all_users(self) -> list[AccountRow]:
        """Every user, oldest first, with whether they are administrators or disabled."""
        rows = self.fetch_all(
            "SELECT id, username, email, created_at, admin, disabled FROM users ORDER BY id"
        )
        return [row_of(AccountRow, row) for row in rows]

    def authenticate(self, token_hash: str, now: datetime) -> tuple[UserRow, TokenRow] | None:
        """The user and token for a token hash, if the token is live (not revoked or
        expired) and its user not disabled; records the token's use (to the minute)."""
        row = self.fetch_one(
            f"SELECT {user_columns('u', 'u_')}, {TOKEN_COLUMNS} FROM {TOKENS} "
            "JOIN users u ON u.id = t.user_id WHERE t.token_hash = %s AND NOT t.revoked "
            "AND NOT u.disabled AND (t.expires_at IS NULL OR t.expires_at > %s)",
            (token_hash, now),
        )
        if row is None:
            return None
        self.record_use(row["id"], token_hash, now)
        return user_from(row), row_of(TokenRow, row)

    def record_use(self, token_id: int, token_hash: str, now: datetime) -> None:
        """Record that the token was used `now`, unless that was done less than a minute
        ago; a failure to record is logged, never an authentication failure."""
        written = self._recorded.get(token_hash)
        if written is not None and now - written < USAGE_RESOLUTION:
            return
        if len(self._recorded) >= MAX_REMEMBERED:
            self._recorded.clear()  # the table's WHERE still spaces the writes
        self._recorded[token_hash] = now
        try:
            with self.datastore.transaction(commit=True) as curs:
                curs.execute(
                    f"INSERT INTO {USAGE_TABLE} AS used (token_id, last_used_at) VALUES (%s, %s) "
                    "ON CONFLICT (token_id) DO UPDATE SET last_used_at = excluded.last_used_at "
                    "WHERE used.last_used_at <= excluded.last_used_at - %s",
                    (token_id, now, USAGE_RESOLUTION),
                )
        except psycopg.Error:
            log.warning("could not record the use of token %s", token_id, exc_info=True)

    def tokens(self, user_id: int, *, include_revoked: bool = True) -> list[TokenRow]:
        """The user's tokens (personal and apps'), oldest first; revoked ones too unless
        told otherwise (the web pages show only the others)."""
        live = "" if include_revoked else " AND NOT t.revoked"
        rows = self.fetch_all(
            f"SELECT {TOKEN_COLUMNS} FROM {TOKENS} WHERE t.user_id = %s{live} ORDER BY t.id",
            (user_id,),
        )
        return [row_of(TokenRow, row) for row in rows]

    def token(self, user_id: int, token_id: int) -> TokenRow | None:
        """One of the user's tokens, not revoked; None for anyone else's."""
        row = self.fetch_one(
            f"SELECT {TOKEN_COLUMNS} FROM {TOKENS} "
            "WHERE t.id = %s AND t.user_id = %s AND NOT t.revoked",
            (token_id, user_id),
        )
        return None if row is None else row_of(TokenRow, row)

    def apps(self, user_id: int) -> list[AppRow]:
        """The OAuth apps the user registered, oldest first."""
        rows = self.fetch_all(
            f"SELECT {APP_COLUMNS} FROM apps a WHERE a.user_id = %s ORDER BY a.id", (user_id,)
        )
        return [row_of(AppRow, row) for row in rows]

    def app(self, client_id: str) -> AppRow | None:
        """Any user's app by client id (for the consent page; check the owner before
        showing its settings, or use `user_app`)."""
        row = self.fetch_one(
            f"SELECT {APP_COLUMNS} FROM apps a WHERE a.client_id = %s", (client_id,)
        )
        return None if row is None else row_of(AppRow, row)

    def user_app(self, user_id: int, client_id: str) -> AppRow | None:
        """The user's own app by client id; None for anyone else's."""
        row = self.fetch_one(
            f"SELECT {APP_COLUMNS} FROM apps a WHERE a.client_id = %s AND a.user_id = %s",
            (client_id, user_id),
        )
        return None if row is None else row_of(AppRow, row)

    def connections(self, user_id: int) -> list[ConnectionRow]:
        """The apps the user granted (a live token for each), by app name."""
        rows = self.fetch_all(
            "SELECT a.id AS app_id, a.client_id, a.name, a.description, a.homepage_uri, "
            "t.id AS token_id, t.scopes, t.created_at AS granted_at, usage.last_used_at "
            f"FROM {TOKENS} JOIN apps a ON a.id = t.app_id "
            "WHERE t.user_id = %s AND NOT t.revoked ORDER BY lower(a.name), a.id",
            (user_id,),
        )
        return [row_of(ConnectionRow, row) for row in rows]
