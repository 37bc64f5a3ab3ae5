"""Every projection marid runs, with the view class it writes."""

from __future__ import annotations

from eventsourcing.projection import Projection

from projections.base import View
from projections.builds import BuildsProjection, BuildsView
from projections.crons import CronsProjection, CronsView
from projections.images import ImagesProjection, ImagesView
from projections.invites import InvitesProjection, InvitesView
from projections.keys import KeysProjection, KeysView
from projections.namespaces import NamespacesProjection, NamespacesView
from projections.objects import ObjectsProjection, ObjectsView
from projections.users import UsersProjection, UsersView
from projections.variables import VariablesProjection, VariablesView
from projections.webhooks import WebhooksProjection, WebhooksView

PROJECTIONS: dict[str, tuple[type[Projection[View]], type[View]]] = {
    "users": (UsersProjection, UsersView),  # type: ignore[dict-item]  # Projection is invariant in its view
    "namespaces": (NamespacesProjection, NamespacesView),  # type: ignore[dict-item]
    "variables": (VariablesProjection, VariablesView),  # type: ignore[dict-item]
    "images": (ImagesProjection, ImagesView),  # type: ignore[dict-item]
    "keys": (KeysProjection, KeysView),  # type: ignore[dict-item]
    "objects": (ObjectsProjection, ObjectsView),  # type: ignore[dict-item]
    "builds": (BuildsProjection, BuildsView),  # type: ignore[dict-item]
    "crons": (CronsProjection, CronsView),  # type: ignore[dict-item]
    "invites": (InvitesProjection, InvitesView),  # type: ignore[dict-item]
    "webhooks": (WebhooksProjection, WebhooksView),  # type: ignore[dict-item]
}
