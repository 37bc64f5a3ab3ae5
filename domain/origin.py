"""Who caused an event: recorded on every event as the audit trail."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """The actor (a user id as text, or `system:<process>`) and the request id, if any."""

    actor: str
    request_id: str | None = None

    @classmethod
    def user(cls, user_id: int, request_id: str | None = None) -> Origin:
        return cls(actor=f"user:{user_id}", request_id=request_id)

    @classmethod
    def system(cls, process: str) -> Origin:
        return cls(actor=f"system:{process}")
