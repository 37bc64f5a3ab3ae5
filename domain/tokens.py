"""The Token aggregate: a personal access token, stored only as a hash."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.identity import aggregate_id
from domain.origin import Origin


class Token(Aggregate):
    """A bearer token of one user, with its scopes, name and optional expiry."""

    @staticmethod
    def create_id(public_id: int) -> UUID:
        return aggregate_id("token", public_id)

    class Created(Aggregate.Created):
        public_id: int
        user_id: int
        name: str
        token_hash: str
        scopes: str
        expires_at: datetime | None
        origin: Origin

    class Revoked(Aggregate.Event):
        origin: Origin

    @event(Created)
    def __init__(
        self,
        public_id: int,
        user_id: int,
        name: str,
        token_hash: str,
        scopes: str,
        expires_at: datetime | None,
        origin: Origin,
    ) -> None:
        self.public_id = public_id
        self.user_id = user_id
        self.name = name
        self.token_hash = token_hash
        self.scopes = scopes
        self.expires_at = expires_at
        self.revoked = False

    def revoke(self, origin: Origin) -> None:
        """Revoke the token; revoking a revoked token changes nothing."""
        if not self.revoked:
            self._revoked(origin=origin)

    @event(Revoked)
    def _revoked(self, origin: Origin) -> None:
        self.revoked = True
