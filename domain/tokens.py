"""The Token aggregate: a personal access token, stored only as a hash."""

from __future__ import annotations

from dataclasses import InitVar
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from domain.aggregates import PublicAggregate
from domain.origin import Origin


class Token(PublicAggregate):
    """A bearer token of one user, with its scopes, name and optional expiry."""

    KIND = "token"

    user_id: int
    name: str
    token_hash: str
    scopes: str
    expires_at: datetime | None
    origin: InitVar[Origin]

    class Created(PublicAggregate.Created):
        user_id: int
        name: str
        token_hash: str
        scopes: str
        expires_at: datetime | None
        origin: Origin

    class Revoked(Aggregate.Event):
        origin: Origin

    def __post_init__(self, origin: Origin) -> None:
        self.revoked = False

    def revoke(self, origin: Origin) -> None:
        """Revoke the token; revoking a revoked token changes nothing."""
        if not self.revoked:
            self._revoked(origin=origin)

    @event(Revoked)
    def _revoked(self, origin: Origin) -> None:
        self.revoked = True
