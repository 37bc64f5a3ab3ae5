"""Use cases for users and their tokens."""

from __future__ import annotations

from datetime import datetime

from application.core import CoreApplication, Outcome, command
from domain.errors import Errors, ValidationError
from domain.identity import aggregate_id
from domain.index import Index, KeyTakenError
from domain.origin import Origin
from domain.scopes import Scopes
from domain.tokens import Token
from domain.users import User, validate_registration


class UserCases(CoreApplication):
    @command
    def register_user(
        self, username: str, email: str, origin: Origin, *, admin: bool = False
    ) -> Outcome[int]:
        """Register a user; username and email are unique (case-insensitively). An
        administrator may also read the audit log."""
        validate_registration(username, email)
        user_id = self.ids.next_id("user")
        errors = Errors()
        indexes: list[Index] = []
        for kind, key, field, message in (
            ("username", username.lower(), "username", "Username already exists"),
            ("email", email.lower(), "email", "Email already exists"),
        ):
            try:
                indexes.append(self.claim(kind, key, user_id, origin))
            except KeyTakenError:
                errors.add(field, message)
        errors.raise_if_any()
        user = User(public_id=user_id, username=username, email=email, origin=origin, admin=admin)
        return Outcome(user_id, self.save(user, *indexes))

    def get_user(self, user_id: int) -> User:
        return self.get(aggregate_id("user", user_id), User, "user")

    def create_token(
        self,
        user_id: int,
        name: str,
        token_hash: str,
        scopes: Scopes,
        expires_at: datetime | None,
        origin: Origin,
    ) -> Outcome[int]:
        """Record a new token for a user; only the hash of its secret is stored."""
        self.get_user(user_id)
        if not name or len(name) > 64:
            raise ValidationError({"name": ["Name must be between 1 and 64 characters in length"]})
        token_id = self.ids.next_id("token")
        token = Token(
            public_id=token_id,
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            scopes=str(scopes),
            expires_at=expires_at,
            origin=origin,
        )
        return Outcome(token_id, self.save(token))

    @command
    def revoke_token(self, token_id: int, origin: Origin) -> Outcome[None]:
        token = self.get(aggregate_id("token", token_id), Token, "token")
        token.revoke(origin)
        return Outcome(None, self.save(token))
