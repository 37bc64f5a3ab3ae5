"""The namespaces read model: every live namespace, and the collaborators of each tree."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.namespaces import Namespace
from projections.base import View


class NamespacesView(View):
    projection_name = "namespaces"
    tables = {
        "namespaces": "(id bigint PRIMARY KEY, aggregate_id uuid NOT NULL, "
        "user_id bigint NOT NULL, "
        "root_id bigint NOT NULL, parent_id bigint, name text NOT NULL, path text NOT NULL, "
        "level integer NOT NULL, description text NOT NULL, visibility text NOT NULL, "
        "created_at timestamptz NOT NULL)",
        "collaborators": "(root_id bigint NOT NULL, user_id bigint NOT NULL, "
        "created_at timestamptz NOT NULL, PRIMARY KEY (root_id, user_id))",
    }
    indexes = {
        "namespaces_owner_path_idx": ("namespaces", "UNIQUE", "(user_id, path)"),
        "namespaces_aggregate_idx": ("namespaces", "UNIQUE", "(aggregate_id)"),
        "namespaces_root_idx": ("namespaces", "", "(root_id)"),
        "namespaces_parent_idx": ("namespaces", "", "(parent_id)"),
        "collaborators_user_idx": ("collaborators", "", "(user_id)"),
    }


class NamespacesProjection(Projection[NamespacesView]):
    name = "namespaces"
    topics = tuple(
        get_topic(cls)
        for cls in (
            Namespace.Created,
            Namespace.DescriptionChanged,
            Namespace.VisibilityChanged,
            Namespace.CollaboratorAdded,
            Namespace.CollaboratorRemoved,
            Namespace.Deleted,
        )
    )

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def created(self, event: Namespace.Created, tracking: Tracking) -> None:
        table = self.view.t("namespaces")
        # A tree shares its root's visibility: a child takes the root's current value.
        sql = (
            f"INSERT INTO {table} SELECT %(id)s, %(aggregate_id)s, %(user_id)s, %(root_id)s, "
            "%(parent_id)s, %(name)s, %(path)s, %(level)s, %(description)s, "
            f"COALESCE((SELECT visibility FROM {table} WHERE id = %(root_id)s), %(visibility)s), "
            "%(created_at)s"
        )
        values = {
            "id": event.public_id,
            "aggregate_id": event.originator_id,
            "user_id": event.owner_id,
            "root_id": event.root_id,
            "parent_id": event.parent_id,
            "name": event.name,
            "path": event.path,
            "level": event.level,
            "description": event.description,
            "visibility": event.visibility,
            "created_at": event.timestamp,
        }
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def description_changed(self, event: Namespace.DescriptionChanged, tracking: Tracking) -> None:
        sql = f"UPDATE {self.view.t('namespaces')} SET description = %s WHERE aggregate_id = %s"
        self.view.write(
            tracking, lambda c: c.execute(sql, (event.description, event.originator_id))
        )

    @process_event.register
    def visibility_changed(self, event: Namespace.VisibilityChanged, tracking: Tracking) -> None:
        table = self.view.t("namespaces")
        sql = (
            f"UPDATE {table} SET visibility = %s "
            f"WHERE root_id = (SELECT id FROM {table} WHERE aggregate_id = %s)"
        )
        self.view.write(tracking, lambda c: c.execute(sql, (event.visibility, event.originator_id)))

    @process_event.register
    def collaborator_added(self, event: Namespace.CollaboratorAdded, tracking: Tracking) -> None:
        namespaces, collaborators = self.view.t("namespaces"), self.view.t("collaborators")
        sql = (
            f"INSERT INTO {collaborators} (root_id, user_id, created_at) "
            f"SELECT id, %s, %s FROM {namespaces} WHERE aggregate_id = %s "
            "ON CONFLICT DO NOTHING"
        )
        values = (event.user_id, event.timestamp, event.originator_id)
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def collaborator_removed(
        self, event: Namespace.CollaboratorRemoved, tracking: Tracking
    ) -> None:
        namespaces, collaborators = self.view.t("namespaces"), self.view.t("collaborators")
        sql = (
            f"DELETE FROM {collaborators} WHERE user_id = %s AND root_id = "
            f"(SELECT id FROM {namespaces} WHERE aggregate_id = %s)"
        )
        self.view.write(tracking, lambda c: c.execute(sql, (event.user_id, event.originator_id)))

    @process_event.register
    def deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        namespaces, collaborators = self.view.t("namespaces"), self.view.t("collaborators")

        def change(c: Any) -> None:
            c.execute(
                f"DELETE FROM {collaborators} WHERE root_id = "
                f"(SELECT id FROM {namespaces} WHERE aggregate_id = %s AND parent_id IS NULL)",
                (event.originator_id,),
            )
            c.execute(f"DELETE FROM {namespaces} WHERE aggregate_id = %s", (event.originator_id,))

        self.view.write(tracking, change)
