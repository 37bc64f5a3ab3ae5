"""Invites (`/api/invites`, a namespace's `/-/invites`) and collaborator removal.

Listing a namespace's collaborators is in `api.controllers.namespaces`. Owner-only writes
by someone who may see the namespace are 422 (from the use case); by someone who may not,
404 (from the namespace guard). Owner-only lists answer 404 to everyone else, as the
collaborators list does.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from api.access import namespace_guard
from api.auth import Caller
from api.render import api_base, namespace_out, origin, user_out
from api.schemas.invites import AcceptedOut, InviteCreate, InviteOut
from infrastructure.bootstrap import Marid
from projections.invites import InviteRow
from projections.rows import NamespaceRow, UserRow

Req = Request[Any, Any, Any]
NS = "/api/n/{user:str}/{path:str}"
INVITE = "/api/invites/{invite_id:int}"


def invite_out(base: str, row: InviteRow, namespace: NamespaceRow | None) -> InviteOut:
    return InviteOut(
        id=row.id,
        namespace_id=row.namespace_id,
        invitee_id=row.invitee.id,
        inviter_id=row.inviter.id,
        url=f"{base}/invites/{row.id}",
        invitee=user_out(row.invitee),
        inviter=user_out(row.inviter),
        namespace=None if namespace is None else namespace_out(base, namespace),
    )


def found_namespace(marid: Marid, namespace_id: int) -> NamespaceRow:
    row = marid.namespaces.get_by_id(namespace_id)
    if row is None:  # deleted meanwhile, or the read model did not catch up in time
        raise NotFoundException()
    return row


def found_user(marid: Marid, user_id: int) -> UserRow:
    row = marid.users.user(user_id)
    if row is None:
        raise NotFoundException()
    return row


class InviteController(Controller):
    tags = ["invites"]
    guards = [namespace_guard]

    @get("/api/invites", sync_to_thread=True, summary="Invites you received")
    def received(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> list[InviteOut]:
        user = caller.require("invite", "read")
        base = api_base(request)
        answer = []
        for row in marid.invites.received(user.id):
            namespace = marid.namespaces.get_by_id(row.namespace_id)
            if namespace is not None:  # else deleted a moment ago; its invites go with it
                answer.append(invite_out(base, row, namespace))
        return answer

    @post(
        NS + "/-/invites",
        sync_to_thread=True,
        summary="Invite a user to collaborate (owner only)",
        opt={"scope": "invite:write", "namespace": "write"},
    )
    def send(
        self,
        request: Req,
        data: JSONBody[InviteCreate],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> InviteOut:
        me = caller.signed_in()
        outcome = marid.app.send_invite(
            namespace_row.id, me.id, data.handle, origin(request, me.id)
        )
        row = marid.invites.get(marid.settle(outcome))
        if row is None:
            raise NotFoundException()
        return invite_out(api_base(request), row, found_namespace(marid, namespace_row.id))

    @get(
        NS + "/-/invites",
        sync_to_thread=True,
        summary="Pending invites to a namespace (owner only)",
        opt={"namespace": "read"},
    )
    def namespace_invites(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> list[InviteOut]:
        # A GET under a namespace: anonymous callers get 404 like any other non-owner
        # (CONTRACT "Anonymous callers"), signed-in ones need invite:read first.
        if caller.user is not None:
            caller.require("invite", "read")
        if caller.id != namespace_row.user_id:
            raise NotFoundException()
        base = api_base(request)
        return [invite_out(base, row, None) for row in marid.invites.in_namespace(namespace_row.id)]

    @patch(
        INVITE,
        sync_to_thread=True,
        summary="Accept an invite (invitee only)",
        opt={"scope": "invite:write"},
    )
    def accept(
        self,
        request: Req,
        invite_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> AcceptedOut:
        me = caller.signed_in()
        accepted = marid.settle(marid.app.accept_invite(invite_id, me.id, origin(request, me.id)))
        return AcceptedOut(
            namespace=namespace_out(api_base(request), found_namespace(marid, accepted.root_id)),
            invitee=user_out(found_user(marid, accepted.invitee_id)),
            inviter=user_out(found_user(marid, accepted.inviter_id)),
        )

    @delete(
        INVITE,
        sync_to_thread=True,
        summary="Reject (invitee) or cancel (inviter) an invite",
        opt={"scope": "invite:delete"},
    )
    def reject(
        self,
        request: Req,
        invite_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> None:
        me = caller.signed_in()
        marid.settle(marid.app.reject_invite(invite_id, me.id, origin(request, me.id)))

    @delete(
        NS + "/-/collaborators/{handle:str}",
        sync_to_thread=True,
        summary="Remove a collaborator of the tree (owner only)",
        opt={"scope": "namespace:delete", "namespace": "write"},
    )
    def remove_collaborator(
        self,
        request: Req,
        handle: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> None:
        """Takes effect on the removed user's next request: the read model is settled first."""
        me = caller.signed_in()
        marid.settle(
            marid.app.remove_collaborator(namespace_row.id, me.id, handle, origin(request, me.id))
        )
