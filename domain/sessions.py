"""The Session aggregate: a browser signed in as a user, until it signs out or expires.

A session is named by the hash of its random token: the token is given to the browser
once, only its hash is recorded; the aggregate's id is derived from the hash, so a request finds
its session in the event store without a read model (and without a lag after sign-in).
Its `Started` event is the sign-in in the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.identity import MARID_NS
from domain.origin import Origin


class Session(Aggregate):
    """One signed-in browser of one user."""

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return uuid5(MARID_NS, f"session:{token_hash}")

    class Started(Aggregate.Created):
        token_hash: str
        user_id: int
        address: str
        expires_at: datetime
        origin: Origin

    class Ended(Aggregate.Event):
        origin: Origin

    @event(Started)
    def __init__(
        self, token_hash: str, user_id: int, address: str, expires_at: datetime, origin: Origin
    ) -> None:
        # `token_hash` is only the id's seed: the aggregate need not keep it.
        self.user_id = user_id
        self.address = address
        self.expires_at = expires_at
        self.ended = False

    def live(self, now: datetime) -> bool:
        """Whether the session still signs its browser in (not ended, not expired)."""
        return not self.ended and self.expires_at > now

    def end(self, origin: Origin) -> None:
        """Sign out; ending an ended session changes nothing."""
        if not self.ended:
            self._ended(origin=origin)

    @event(Ended)
    def _ended(self, origin: Origin) -> None:
        self.ended = True
