"""Rendering read-model rows as Djinn's JSON shapes, with absolute URLs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from litestar import Request
from litestar.exceptions import NotFoundException

from api.schemas.namespaces import NamespaceOut
from api.schemas.users import UserOut
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from projections.rows import NamespaceRow, UserRow

R = TypeVar("R")


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def api_base(request: Request[Any, Any, Any]) -> str:
    """The public API base: MARID_API_URL, else the request's own base URL plus /api."""
    marid: Marid = request.app.state.marid
    if marid.settings.api_url:
        return marid.settings.api_url
    return str(request.base_url).rstrip("/") + "/api"


def user_out(user: UserRow) -> UserOut:
    return UserOut(
        id=user.id, username=user.username, email=user.email, created_at=iso(user.created_at)
    )


def namespace_url(base: str, ns: NamespaceRow) -> str:
    return f"{base}/n/{ns.user.username}/{ns.path}"


def namespace_out(base: str, ns: NamespaceRow, build: dict[str, Any] | None = None) -> NamespaceOut:
    url = namespace_url(base, ns)
    return NamespaceOut(
        id=ns.id,
        user_id=ns.user_id,
        root_id=ns.root_id,
        parent_id=ns.parent_id,
        name=ns.name,
        path=ns.path,
        description=ns.description,
        visibility=ns.visibility,
        created_at=iso(ns.created_at),
        url=url,
        builds_url=f"{url}/-/builds",
        namespaces_url=f"{url}/-/namespaces",
        images_url=f"{url}/-/images",
        objects_url=f"{url}/-/objects",
        variables_url=f"{url}/-/variables",
        keys_url=f"{url}/-/keys",
        invites_url=f"{url}/-/invites",
        collaborators_url=f"{url}/-/collaborators",
        webhooks_url=f"{url}/-/webhooks",
        user=user_out(ns.user),
        build=build,
        parent=namespace_out(base, ns.parent) if ns.parent is not None else None,
    )


def origin(request: Request[Any, Any, Any], user_id: int) -> Origin:
    """Who is acting on this request, for the events it records."""
    return Origin.user(user_id, request.scope.get("state", {}).get("request_id"))


def settled(row: R | None) -> R:
    """The row a write just settled; 404 if the read model did not catch up within the bound."""
    if row is None:
        raise NotFoundException()
    return row
