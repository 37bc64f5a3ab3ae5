"""Use cases for invites and collaborators.

Collaborators are recorded on the root `Namespace` aggregate (what write checks read), so
accepting an invite saves the invite, the root and the invite's index in one transaction.
Owner-only refusals (422) come before the business rules, so that someone who may see a
namespace but not manage it learns nothing about its invites or collaborators.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.core import Outcome, command
from application.namespaces import NamespaceCases
from domain.errors import Errors, NotFoundError, RuleError
from domain.identity import aggregate_id
from domain.index import KeyTakenError
from domain.invites import (
    ALREADY_COLLABORATOR,
    ALREADY_SENT,
    CANNOT_INVITE_SELF,
    NO_SUCH_COLLABORATOR,
    NO_SUCH_USER,
    Invite,
    pending_key,
    validate_handle,
)
from domain.namespaces import Namespace
from domain.origin import Origin


@dataclass(frozen=True)
class Acceptance:
    """What accepting an invite produced: the tree joined, who joined, who invited."""

    root_id: int
    invitee_id: int
    inviter_id: int


class InviteCases(NamespaceCases):
    def invite(self, invite_id: int) -> Invite | None:
        """A pending invite whose namespace still exists, or None."""
        invite = self.load(aggregate_id("invite", invite_id), Invite)
        if invite is None or not invite.pending or self.namespace(invite.namespace_id) is None:
            return None
        return invite

    def user_for_handle(self, handle: str) -> int | None:
        """The id of the user with this username or email (case-insensitively)."""
        handle = handle.strip()
        found = self.user_id_for(handle)
        return found if found is not None else self.holder("email", handle.lower())

    def _with_root(self, namespace_id: int) -> tuple[Namespace, Namespace]:
        """A live namespace and the root of its tree (404 when it is gone)."""
        ns = self.live_namespace(namespace_id)
        return ns, self.root_of(ns)

    @command
    def send_invite(
        self, namespace_id: int, caller_id: int, handle: str | None, origin: Origin
    ) -> Outcome[int]:
        """Invite a user (by username or email) to a namespace; owner only."""
        ns, root = self._with_root(namespace_id)
        errors = Errors()
        validate_handle(errors, handle)
        errors.raise_if_any()
        assert handle is not None  # checked by validate_handle
        ns.require_owner(caller_id)
        invitee_id = self.user_for_handle(handle)
        if invitee_id is None:
            raise RuleError(NO_SUCH_USER)
        if invitee_id == caller_id:
            raise RuleError(CANNOT_INVITE_SELF)
        if self.holder("invite", pending_key(ns.public_id, invitee_id)) is not None:
            raise RuleError(ALREADY_SENT)
        if invitee_id in root.collaborators:
            raise RuleError(ALREADY_COLLABORATOR)
        invite_id = self.ids.next_id("invite")
        try:
            index = self.claim("invite", pending_key(ns.public_id, invitee_id), invite_id, origin)
        except KeyTakenError:
            raise RuleError(ALREADY_SENT) from None
        invite = Invite(
            public_id=invite_id,
            namespace_id=ns.public_id,
            root_id=root.public_id,
            invitee_id=invitee_id,
            inviter_id=caller_id,
            origin=origin,
        )
        return Outcome(invite_id, self.save(invite, index))

    @command
    def accept_invite(self, invite_id: int, caller_id: int, origin: Origin) -> Outcome[Acceptance]:
        """The invitee joins the root of the invite's tree; the invite is used up."""
        invite = self.invite(invite_id)
        ns = None if invite is None else self.namespace(invite.namespace_id)
        if invite is None or ns is None:
            raise NotFoundError("invite")
        invite.accept(caller_id, origin)
        root = self.root_of(ns)
        root.add_collaborator(invite.invitee_id, origin)
        index = self.claim("invite", invite.key, invite_id, origin)
        index.release(invite_id, origin)
        acceptance = Acceptance(root.public_id, invite.invitee_id, invite.inviter_id)
        return Outcome(acceptance, self.save(invite, root, index))

    @command
    def reject_invite(self, invite_id: int, caller_id: int, origin: Origin) -> Outcome[None]:
        """The invitee rejects, or the inviter cancels, a pending invite."""
        invite = self.invite(invite_id)
        if invite is None:
            raise NotFoundError("invite")
        invite.reject(caller_id, origin)
        index = self.claim("invite", invite.key, invite_id, origin)
        index.release(invite_id, origin)
        return Outcome(None, self.save(invite, index))

    @command
    def remove_collaborator(
        self, namespace_id: int, caller_id: int, handle: str, origin: Origin
    ) -> Outcome[None]:
        """The owner removes a collaborator of the tree (from any namespace in it)."""
        ns = self.owned_namespace(namespace_id, caller_id)  # 404 for anyone else (CONTRACT.md)
        root = self.root_of(ns)
        user_id = self.user_for_handle(handle)
        if user_id is None or user_id not in root.collaborators:
            raise RuleError(NO_SUCH_COLLABORATOR)
        root.remove_collaborator(user_id, origin)
        return Outcome(None, self.save(root))
