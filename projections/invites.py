"""The invites read model: pending invites only; accepted, rejected and orphaned ones go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.invites import Invite
from domain.namespaces import Namespace
from projections.base import AggregateTable, View
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

    def remove_in_namespace(self, namespace_id: int, tracking: Tracking) -> None:
        """A deleted namespace takes its pending invites with it."""
        self._delete(tracking, "invites", namespace_id=namespace_id)


class InvitesView(InvitesTables, View):
    """The invites read model in PostgreSQL."""


class InvitesProjection(Projection[InvitesTables]):
    name = "invites"
    topics = tuple(
        get_topic(cls) for cls in (Invite.Sent, Invite.Accepted, Invite.Rejected, Namespace.Deleted)
    )

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def sent(self, event: Invite.Sent, tracking: Tracking) -> None:
        row = {
            "id": event.public_id,
            "aggregate_id": event.originator_id,
            "namespace_id": event.namespace_id,
            "root_id": event.root_id,
            "invitee_id": event.invitee_id,
            "inviter_id": event.inviter_id,
            "created_at": event.timestamp,
        }
        self.view.add(row, tracking)

    @process_event.register
    def accepted(self, event: Invite.Accepted, tracking: Tracking) -> None:
        self.view.remove(event.originator_id, tracking)

    @process_event.register
    def rejected(self, event: Invite.Rejected, tracking: Tracking) -> None:
        self.view.remove(event.originator_id, tracking)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
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
