"""Queries on the users read model."""

from __future__ import annotations

from datetime import datetime

from projections.rows import Queries, TokenRow, UserRow, row_of, user_columns, user_from

# not a secret: the columns of the tokens table that are safe to read
TOKEN_COLUMNS = "t.id, t.user_id, t.name, t.scopes, t.expires_at, t.revoked, t.created_at"  # noqa: S105


class UserQueries(Queries):
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

    def authenticate(self, token_hash: str, now: datetime) -> tuple[UserRow, TokenRow] | None:
        """The user and token for a token hash, if the token is live (not revoked or expired)."""
        row = self.fetch_one(
            f"SELECT {user_columns('u', 'u_')}, {TOKEN_COLUMNS} FROM tokens t "
            "JOIN users u ON u.id = t.user_id WHERE t.token_hash = %s AND NOT t.revoked "
            "AND (t.expires_at IS NULL OR t.expires_at > %s)",
            (token_hash, now),
        )
        if row is None:
            return None
        return user_from(row), row_of(TokenRow, row)

    def tokens(self, user_id: int) -> list[TokenRow]:
        rows = self.fetch_all(
            f"SELECT {TOKEN_COLUMNS} FROM tokens t WHERE t.user_id = %s ORDER BY t.id", (user_id,)
        )
        return [row_of(TokenRow, row) for row in rows]
