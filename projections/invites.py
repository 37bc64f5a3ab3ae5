"""The invites read model: pending invites only; accepted, rejected and orphaned ones go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking

from domain.invites import Invite
from domain.namespaces import Namespace
from projections.base import AggregateTable, View
from projections.handling import ReadModelProjection, created_row, handlers
from projections.rows import Queries, UserRow, user_columns, user_from


class InvitesTables(AggregateTable):
    projection_name = "invites"
    tables = {
        "invites": "(id bigint PRIMARY KEY, aggregate_id uuid NOT NULL, "
        "namespace_id bigint NOT NULL, root_id bigint NOT NULL, invitee_id bigint NOT NULL, "
        "inviter_id bigint NOT NULL, created_at timestamptz NOT NULL)"
    }
    indexes = {
        "invites_aggregate_idx": ("invites", "UNIQUE", "(aggregate_id)"),
        "invites_namespace_idx": ("invites", "", "(namespace_id)"),
        "invites_invitee_idx": ("invites", "", "(invitee_id)"),
    }


class InvitesView(InvitesTables, View):
    """The invites read model in PostgreSQL."""


class InvitesProjection(ReadModelProjection[InvitesTables]):
    name = "invites"
    process_event = handlers()

    @process_event.register
    def sent(self, event: Invite.Sent, tracking: Tracking) -> None:
        row = created_row(event, "namespace_id", "root_id", "invitee_id", "inviter_id")
        self.view.add(row, tracking)

    @process_event.register
    def answered(self, event: Invite.Accepted | Invite.Rejected, tracking: Tracking) -> None:
        """Accepted or rejected, the invite is no longer pending."""
        self.view.remove(event.originator_id, tracking)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        """A deleted namespace takes its pending invites with it."""
        self.view.remove_in_namespace(event.public_id, tracking)


@dataclass(frozen=True)
class InviteRow:
    id: int
    namespace_id: int
    root_id: int
    invitee: UserRow
    inviter: UserRow


SELECT = (
    f"SELECT i.id, i.namespace_id, i.root_id, {user_columns('e', 'e_')}, "
    f"{user_columns('r', 'r_')} FROM invites i "
    "JOIN users e ON e.id = i.invitee_id JOIN users r ON r.id = i.inviter_id "
)


def invite_from(row: dict[str, Any]) -> InviteRow:
    return InviteRow(
        id=row["id"],
        namespace_id=row["namespace_id"],
        root_id=row["root_id"],
        invitee=user_from(row, "e_"),
        inviter=user_from(row, "r_"),
    )


class InviteQueries(Queries):
    def get(self, invite_id: int) -> InviteRow | None:
        row = self.fetch_one(SELECT + "WHERE i.id = %s", (invite_id,))
        return None if row is None else invite_from(row)

    def received(self, invitee_id: int) -> list[InviteRow]:
        """Pending invites sent to a user, oldest first (not paged, as in Djinn)."""
        rows = self.fetch_all(SELECT + "WHERE i.invitee_id = %s ORDER BY i.id", (invitee_id,))
        return [invite_from(row) for row in rows]

    def in_namespace(self, namespace_id: int) -> list[InviteRow]:
        """Pending invites to exactly this namespace, oldest first (not paged)."""
        rows = self.fetch_all(SELECT + "WHERE i.namespace_id = %s ORDER BY i.id", (namespace_id,))
        return [invite_from(row) for row in rows]
