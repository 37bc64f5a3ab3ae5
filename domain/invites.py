"""The Invite aggregate: an owner asks a user to collaborate on a namespace tree."""

from __future__ import annotations

from dataclasses import InitVar

from eventsourcing.domain import Aggregate, event

from domain.aggregates import PublicAggregate
from domain.errors import Errors, NotFoundError
from domain.origin import Origin

HANDLE_REQUIRED = "Username or email field required"
NO_SUCH_USER = "No such user"
CANNOT_INVITE_SELF = "Cannot invite self"
ALREADY_SENT = "Invite already sent"
ALREADY_COLLABORATOR = "Already a collaborator"
NO_SUCH_COLLABORATOR = "No such collaborator"

PENDING = "pending"
ACCEPTED = "accepted"
REJECTED = "rejected"


def validate_handle(errors: Errors, handle: str | None) -> None:
    if not handle or not handle.strip():
        errors.add("handle", HANDLE_REQUIRED)


def pending_key(namespace_id: int, invitee_id: int) -> str:
    """The natural key that allows one pending invite per namespace and invitee."""
    return f"{namespace_id}:{invitee_id}"


class Invite(PublicAggregate):
    """An invite to a namespace (possibly a child); accepting it joins the tree's root."""

    KIND = "invite"

    namespace_id: int
    root_id: int
    invitee_id: int
    inviter_id: int
    origin: InitVar[Origin]

    class Sent(PublicAggregate.Created):
        namespace_id: int
        root_id: int
        invitee_id: int
        inviter_id: int
        origin: Origin

    class Accepted(Aggregate.Event):
        origin: Origin

    class Rejected(Aggregate.Event):
        """Rejected by the invitee or cancelled by the inviter (`by_id` says which)."""

        by_id: int
        origin: Origin

    def __post_init__(self, origin: Origin) -> None:
        self.status = PENDING

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @property
    def key(self) -> str:
        return pending_key(self.namespace_id, self.invitee_id)

    def accept(self, caller_id: int, origin: Origin) -> None:
        """Only the invitee accepts a pending invite; to anyone else it does not exist."""
        if not self.pending or caller_id != self.invitee_id:
            raise NotFoundError("invite")
        self._accepted(origin=origin)

    @event(Accepted)
    def _accepted(self, origin: Origin) -> None:
        self.status = ACCEPTED

    def reject(self, caller_id: int, origin: Origin) -> None:
        """The invitee rejects or the inviter cancels; to anyone else it does not exist."""
        if not self.pending or caller_id not in (self.invitee_id, self.inviter_id):
            raise NotFoundError("invite")
        self._rejected(by_id=caller_id, origin=origin)

    @event(Rejected)
    def _rejected(self, by_id: int, origin: Origin) -> None:
        self.status = REJECTED
