"""The invites projection on its in-memory view: pending invites only."""

from __future__ import annotations

from domain.invites import Invite
from projections.invites import InvitesProjection, InvitesTables
from projections.memory import in_memory
from tests.unit.projection_support import APP, ORIGIN, feed, namespace_deleted


def invite(public_id: int, namespace_id: int = 3, invitee_id: int = 6) -> Invite:
    return Invite(
        public_id=public_id,
        namespace_id=namespace_id,
        root_id=1,
        invitee_id=invitee_id,
        inviter_id=5,
        origin=ORIGIN,
    )


def projected() -> tuple[InvitesProjection, InvitesTables]:
    view = in_memory(InvitesTables)
    return InvitesProjection(view=view), view


def test_sent_invite_is_pending() -> None:
    projection, view = projected()
    sent = invite(4)

    feed(projection, sent.collect_events())

    assert view.rows("invites") == [
        {
            "id": 4,
            "aggregate_id": sent.id,
            "namespace_id": 3,
            "root_id": 1,
            "invitee_id": 6,
            "inviter_id": 5,
            "created_at": sent.created_on,
        }
    ]


def test_accepted_and_rejected_invites_are_no_longer_pending() -> None:
    projection, view = projected()
    accepted, rejected, kept = invite(1), invite(2, invitee_id=7), invite(3, invitee_id=8)
    last = feed(projection, [e for i in (accepted, rejected, kept) for e in i.collect_events()])
    accepted.accept(6, ORIGIN)
    rejected.reject(5, ORIGIN)

    feed(projection, [*accepted.collect_events(), *rejected.collect_events()], first=last + 1)

    assert [row["id"] for row in view.rows("invites")] == [3]


def test_deleted_namespace_takes_its_invites_once() -> None:
    projection, view = projected()
    last = feed(projection, [*invite(1, 3).collect_events(), *invite(2, 4).collect_events()])
    deleted = namespace_deleted(3)

    feed(projection, deleted, first=last + 1)
    feed(projection, invite(3, 3).collect_events(), first=last + 1)  # reused id: ignored

    assert [row["id"] for row in view.rows("invites")] == [2]
    assert view.max_tracking_id(APP) == last + 1
