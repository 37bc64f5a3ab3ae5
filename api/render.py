"""Rendering read-model rows as Djinn's JSON shapes, with absolute URLs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import NotFoundException

from api.schemas.namespaces import NamespaceOut
from api.schemas.users import UserOut
from domain.origin import Origin
from projections.rows import NamespaceRow, UserRow

R = TypeVar("R")
S = TypeVar("S", bound=msgspec.Struct)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def api_base(request: Request[Any, Any, Any]) -> str:
    """The public API base: MARID_API_URL, else the request's own base URL plus /api."""
    api_url: str | None = request.app.state.marid.settings.api_url
    return api_url or str(request.base_url).rstrip("/") + "/api"


def struct_of(struct: type[S], source: Callable[[str], Any], **given: Any) -> S:
    """A `struct` with the fields `given`, each other field read from `source` by its name
    (a datetime as RFC 3339): for shapes whose fields are mostly their row's."""
    values = {}
    for name in struct.__struct_fields__:
        value = given[name] if name in given else source(name)
        values[name] = iso(value) if isinstance(value, datetime) else value
    return struct(**values)


def copied(struct: type[S], row: object, **given: Any) -> S:
    """A `struct` with the fields `given`, the others copied from `row`'s attributes."""
    return struct_of(struct, lambda name: getattr(row, name), **given)


def links(struct: type[msgspec.Struct], url: str) -> dict[str, str]:
    """The `<name>_url` fields of `struct`: `<url>/<name>` each."""
    return {field: f"{url}/{name}" for field, name in _link_fields(struct)}


@functools.cache
def _link_fields(struct: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    fields = struct.__struct_fields__
    return tuple((f, f.removesuffix("_url")) for f in fields if f.endswith("_url"))


def user_out(user: UserRow) -> UserOut:
    return copied(UserOut, user)


def namespace_url(base: str, ns: NamespaceRow) -> str:
    return f"{base}/n/{ns.user.username}/{ns.path}"


def namespace_out(base: str, ns: NamespaceRow, build: dict[str, Any] | None = None) -> NamespaceOut:
    """A namespace, with the URLs of its lists (`<url>/-/builds`, ...)."""
    url = namespace_url(base, ns)
    return copied(
        NamespaceOut,
        ns,
        url=url,
        **links(NamespaceOut, f"{url}/-"),
        user=user_out(ns.user),
        build=build,
        parent=namespace_out(base, ns.parent) if ns.parent is not None else None,
    )


def origin(request: Request[Any, Any, Any], user_id: int) -> Origin:
    """Who is acting on this request, for the events it records."""
    return Origin.user(user_id, request.scope.get("state", {}).get("request_id"))


def found(row: R | None) -> R:
    """The row, or 404 when there is none (after a write: deleted meanwhile, the read
    models having been settled)."""
    if row is None:
        raise NotFoundException()
    return row
