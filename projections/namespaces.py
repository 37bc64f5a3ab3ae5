"""The namespaces read model: every live namespace, and the collaborators of each tree."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from domain.namespaces import Namespace
from projections.base import ReadModel, View
from projections.handling import ReadModelProjection, created_row, handlers
from projections.writes import Rows


class NamespacesTables(ReadModel):
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

    def add(self, row: Mapping[str, Any], tracking: Tracking) -> None:
        """A tree shares its root's visibility: a child takes the root's current value."""

        def change(rows: Rows) -> None:
            is_root = row["root_id"] == row["id"]  # then nothing to look up: one statement
            root = None if is_root else rows.find("namespaces", id=row["root_id"])
            visibility = row["visibility"] if root is None else root["visibility"]
            rows.insert("namespaces", {**row, "visibility": visibility})

        self.apply(tracking, change)

    def describe(self, aggregate_id: Any, description: str, tracking: Tracking) -> None:
        values = {"description": description}
        self._update(tracking, "namespaces", values, aggregate_id=aggregate_id)

    def set_visibility(self, root_aggregate_id: Any, visibility: str, tracking: Tracking) -> None:
        """The visibility of a root, and so of its whole tree."""

        def change(rows: Rows) -> None:
            root_id = _id(rows, root_aggregate_id)
            if root_id is not None:
                rows.update("namespaces", {"visibility": visibility}, root_id=root_id)

        self.apply(tracking, change)

    def add_collaborator(
        self, root_aggregate_id: Any, user_id: int, at: datetime, tracking: Tracking
    ) -> None:
        def change(rows: Rows) -> None:
            root_id = _id(rows, root_aggregate_id)
            if root_id is not None:
                row = {"root_id": root_id, "user_id": user_id, "created_at": at}
                rows.insert("collaborators", row, skip_existing=True)

        self.apply(tracking, change)

    def remove_collaborator(self, root_aggregate_id: Any, user_id: int, tracking: Tracking) -> None:
        def change(rows: Rows) -> None:
            root_id = _id(rows, root_aggregate_id)
            if root_id is not None:
                rows.delete("collaborators", root_id=root_id, user_id=user_id)

        self.apply(tracking, change)

    def remove(self, aggregate_id: Any, tracking: Tracking) -> None:
        """The namespace goes; a root takes its tree's collaborators with it."""

        def change(rows: Rows) -> None:
            namespace = rows.find("namespaces", aggregate_id=aggregate_id)
            if namespace is not None and namespace["parent_id"] is None:
                rows.delete("collaborators", root_id=namespace["id"])
            rows.delete("namespaces", aggregate_id=aggregate_id)

        self.apply(tracking, change)


def _id(rows: Rows, aggregate_id: Any) -> int | None:
    """The public id of the namespace, if the read model has it."""
    namespace = rows.find("namespaces", aggregate_id=aggregate_id)
    return None if namespace is None else int(namespace["id"])


class NamespacesView(NamespacesTables, View):
    """The namespaces read model in PostgreSQL."""


class NamespacesProjection(ReadModelProjection[NamespacesTables]):
    name = "namespaces"
    process_event = handlers()

    @process_event.register
    def created(self, event: Namespace.Created, tracking: Tracking) -> None:
        own = ("root_id", "parent_id", "name", "path", "level", "description", "visibility")
        self.view.add(created_row(event, *own, user_id="owner_id"), tracking)

    @process_event.register
    def description_changed(self, event: Namespace.DescriptionChanged, tracking: Tracking) -> None:
        self.view.describe(event.originator_id, event.description, tracking)

    @process_event.register
    def visibility_changed(self, event: Namespace.VisibilityChanged, tracking: Tracking) -> None:
        self.view.set_visibility(event.originator_id, event.visibility, tracking)

    @process_event.register
    def collaborator_added(self, event: Namespace.CollaboratorAdded, tracking: Tracking) -> None:
        self.view.add_collaborator(event.originator_id, event.user_id, event.timestamp, tracking)

    @process_event.register
    def collaborator_removed(
        self, event: Namespace.CollaboratorRemoved, tracking: Tracking
    ) -> None:
        self.view.remove_collaborator(event.originator_id, event.user_id, tracking)

    @process_event.register
    def deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        self.view.remove(event.originator_id, tracking)
