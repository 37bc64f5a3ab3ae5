"""Invites (`/api/invites`, a namespace's `/-/invites`) and collaborator removal.

Listing a namespace's collaborators is in `api.controllers.namespaces`. Owner-only writes
by someone who may see the namespace are 422 (from the use case); by someone who may not,
404 (from the namespace guard). Owner-only lists answer 404 to everyone else, as the
collaborators list does.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from api.access import namespace_guard
from api.auth import Actor, Caller
from api.deps import Injected, Settle
from api.render import api_base, copied, found, namespace_out, user_out
from api.schemas.invites import AcceptedOut, InviteCreate, InviteOut
from application.invites import InviteCases
from projections.invites import InviteQueries, InviteRow
from projections.namespace_queries import NamespaceQueries
from projections.rows import NamespaceRow
from projections.user_queries import UserQueries

Req = Request[Any, Any, Any]
NS = "/api/n/{user:str}/{path:str}"
INVITE = "/api/invites/{invite_id:int}"


def invite_out(base: str, row: InviteRow, namespace: NamespaceRow | None) -> InviteOut:
    return copied(
        InviteOut,
        row,
        invitee_id=row.invitee.id,
        inviter_id=row.inviter.id,
        url=f"{base}/invites/{row.id}",
        invitee=user_out(row.invitee),
        inviter=user_out(row.inviter),
        namespace=None if namespace is None else namespace_out(base, namespace),
    )


class InviteController(Controller):
    tags = ["invites"]
    guards = [namespace_guard]

    @get("/api/invites", sync_to_thread=True, summary="Invites you received")
    def received(
        self,
        request: Req,
        caller: Injected[Caller],
        invites: Injected[InviteQueries],
        namespaces: Injected[NamespaceQueries],
    ) -> list[InviteOut]:
        user = caller.require("invite", "read")
        base = api_base(request)
        answer = []
        for row in invites.received(user.id):
            namespace = namespaces.get_by_id(row.namespace_id)
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
        actor: Injected[Actor],
        namespace_row: Injected[NamespaceRow],
        invite_cases: Injected[InviteCases],
        settle: Injected[Settle],
        invites: Injected[InviteQueries],
        namespaces: Injected[NamespaceQueries],
    ) -> InviteOut:
        outcome = invite_cases.send_invite(namespace_row.id, actor.id, data.handle, actor.origin)
        row = found(invites.get(settle(outcome)))
        # 404 if deleted meanwhile.
        namespace = found(namespaces.get_by_id(namespace_row.id))
        return invite_out(api_base(request), row, namespace)

    @get(
        NS + "/-/invites",
        sync_to_thread=True,
        summary="Pending invites to a namespace (owner only)",
        opt={"namespace": "read"},
    )
    def namespace_invites(
        self,
        request: Req,
        caller: Injected[Caller],
        namespace_row: Injected[NamespaceRow],
        invites: Injected[InviteQueries],
    ) -> list[InviteOut]:
        # A GET under a namespace: anonymous callers get 404 like any other non-owner
        # (CONTRACT "Anonymous callers"), signed-in ones need invite:read first.
        if caller.user is not None:
            caller.require("invite", "read")
        if caller.id != namespace_row.user_id:
            raise NotFoundException()
        base = api_base(request)
        return [invite_out(base, row, None) for row in invites.in_namespace(namespace_row.id)]

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
        actor: Injected[Actor],
        invite_cases: Injected[InviteCases],
        settle: Injected[Settle],
        namespaces: Injected[NamespaceQueries],
        users: Injected[UserQueries],
    ) -> AcceptedOut:
        accepted = settle(invite_cases.accept_invite(invite_id, actor.id, actor.origin))
        return AcceptedOut(
            namespace=namespace_out(
                api_base(request), found(namespaces.get_by_id(accepted.root_id))
            ),
            invitee=user_out(found(users.user(accepted.invitee_id))),
            inviter=user_out(found(users.user(accepted.inviter_id))),
        )

    @delete(
        INVITE,
        sync_to_thread=True,
        summary="Reject (invitee) or cancel (inviter) an invite",
        opt={"scope": "invite:delete"},
    )
    def reject(
        self,
        invite_id: FromPath[int],
        actor: Injected[Actor],
        invite_cases: Injected[InviteCases],
        settle: Injected[Settle],
    ) -> None:
        settle(invite_cases.reject_invite(invite_id, actor.id, actor.origin))

    @delete(
        NS + "/-/collaborators/{handle:str}",
        sync_to_thread=True,
        summary="Remove a collaborator of the tree (owner only)",
        opt={"scope": "namespace:delete", "namespace": "write"},
    )
    def remove_collaborator(
        self,
        handle: FromPath[str],
        actor: Injected[Actor],
        namespace_row: Injected[NamespaceRow],
        invite_cases: Injected[InviteCases],
        settle: Injected[Settle],
    ) -> None:
        """Takes effect on the removed user's next request: the read model is settled first."""
        settle(invite_cases.remove_collaborator(namespace_row.id, actor.id, handle, actor.origin))
