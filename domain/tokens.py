"""The Token aggregate: a personal access token (or an OAuth app's), stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import InitVar
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from domain.aggregates import Assigns, PublicAggregate
from domain.errors import ValidationError
from domain.origin import Origin

TOKEN_PREFIX = "marid_"  # noqa: S105 (a public prefix, not a secret)
NAME_MAX = 64
NAME_LENGTH = f"Name must be between 1 and {NAME_MAX} characters in length"
NAME_TAKEN = "Name already exists"


def generate_token() -> str:
    """A new token: the prefix and 40 hex characters (160 random bits)."""
    return TOKEN_PREFIX + secrets.token_hex(20)


def hash_token(token: str) -> str:
    """How a token is stored and looked up: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) == len(TOKEN_PREFIX) + 40


def validate_token_name(name: str) -> None:
    """Raise ValidationError({"name": [...]}) for an empty (or blank) or too long name."""
    if not name.strip() or len(name) > NAME_MAX:
        raise ValidationError({"name": [NAME_LENGTH]})


class Token(PublicAggregate):
    """A bearer token of one user, with its scopes, name and optional expiry.

    `app_id` is the OAuth app the token was issued to (None: a personal token).
    """

    KIND = "token"

    user_id: int
    name: str
    token_hash: str
    scopes: str
    expires_at: datetime | None
    origin: InitVar[Origin]
    app_id: int | None = None

    class Created(PublicAggregate.Created):
        user_id: int
        name: str
        token_hash: str
        scopes: str
        expires_at: datetime | None
        origin: Origin
        # Added with OAuth apps: tokens created before them are personal.
        app_id: int | None = None

    class Revoked(Aggregate.Event):
        origin: Origin

    class Updated(Assigns):
        """Renamed or re-scoped (an app's token is re-scoped by a new grant)."""

        name: str
        scopes: str
        origin: Origin

    class Regenerated(Assigns):
        """A new secret value: the old one stops working."""

        token_hash: str
        origin: Origin

    def __post_init__(self, origin: Origin) -> None:
        self.revoked = False

    def live(self, now: datetime) -> bool:
        """Whether the token still authenticates (not revoked, not expired)."""
        return not self.revoked and (self.expires_at is None or self.expires_at > now)

    def revoke(self, origin: Origin) -> None:
        """Revoke the token; revoking a revoked token changes nothing."""
        if not self.revoked:
            self._revoked(origin=origin)

    @event(Revoked)
    def _revoked(self, origin: Origin) -> None:
        self.revoked = True

    def update(self, name: str, scopes: str, origin: Origin) -> None:
        """Rename and re-scope; the same values again record nothing."""
        validate_token_name(name)
        if (name, scopes) != (self.name, self.scopes):
            self.trigger_event(self.Updated, name=name, scopes=scopes, origin=origin)

    def regenerate(self, token_hash: str, origin: Origin) -> None:
        """Give the token a new secret (its hash): the old value no longer authenticates."""
        self.trigger_event(self.Regenerated, token_hash=token_hash, origin=origin)
