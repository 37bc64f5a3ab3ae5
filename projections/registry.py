"""Every projection marid runs, with its PostgreSQL view; each view's intent layer (the
view's first base) has an in-memory twin, `projections.memory.in_memory(...)`."""

from __future__ import annotations

from typing import Any

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

# A projection's view is its intent layer (Projection is invariant in it); the PostgreSQL
# view given with it implements that layer.
PROJECTIONS: dict[str, tuple[type[Projection[Any]], type[View]]] = {
    "users": (UsersProjection, UsersView),
    "namespaces": (NamespacesProjection, NamespacesView),
    "variables": (VariablesProjection, VariablesView),
    "images": (ImagesProjection, ImagesView),
    "keys": (KeysProjection, KeysView),
    "objects": (ObjectsProjection, ObjectsView),
    "builds": (BuildsProjection, BuildsView),
    "crons": (CronsProjection, CronsView),
    "invites": (InvitesProjection, InvitesView),
    "webhooks": (WebhooksProjection, WebhooksView),
}
