"""Rendering read-model rows as Djinn's JSON shapes, with absolute URLs."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
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
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # strftime("%Y-%m-%dT%H:%M:%S.%fZ"), faster (every list renders many): the same text
    # for years 1000 to 9999.
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def api_base(request: Request[Any, Any, Any]) -> str:
    """The public API base: MARID_API_URL, else the request's own base URL plus /api."""
    api_url: str | None = request.app.state.marid.settings.api_url
    return api_url or str(request.base_url).rstrip("/") + "/api"


def struct_of(struct: type[S], source: Callable[[str], Any], **given: Any) -> S:
    """A `struct` with the fields `given`, each other field read from `source` by its name
    (a datetime as RFC 3339): for shapes whose fields are mostly their row's."""
    names, _ = _plan(struct, tuple(given), attrgetter)
    return _filled(struct, names, [source(name) for name in names], given)


def copied(struct: type[S], row: object, **given: Any) -> S:
    """A `struct` with the fields `given`, the others copied from `row`'s attributes."""
    names, get = _plan(struct, tuple(given), attrgetter)
    return _filled(struct, names, get(row), given)


def copied_items(struct: type[S], row: Mapping[str, Any], **given: Any) -> S:
    """A `struct` with the fields `given`, the others copied from `row`'s items."""
    names, get = _plan(struct, tuple(given), itemgetter)
    return _filled(struct, names, get(row), given)


def _filled(struct: type[S], names: tuple[str, ...], values: Any, given: dict[str, Any]) -> S:
    for name, value in zip(names, values, strict=True):
        given[name] = iso(value) if isinstance(value, datetime) else value
    return struct(**given)


@functools.cache  # rendering is on the path of every list: each shape's plan is made once
def _plan(
    struct: type[msgspec.Struct], given: tuple[str, ...], getter: Callable[..., Any]
) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The fields of `struct` not in `given`, and `getter` of them (always a tuple)."""
    names = tuple(name for name in struct.__struct_fields__ if name not in given)
    if len(names) == 1:
        one = getter(names[0])
        return names, lambda row: (one(row),)
    return names, getter(*names) if names else lambda row: ()


def links(struct: type[msgspec.Struct], url: str) -> dict[str, str]:
    """The `<name>_url` fields of `struct`: `<url>/<name>` each."""
    return {field: f"{url}/{name}" for field, name in _link_fields(struct)}


@functools.cache
def _link_fields(struct: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    fields = struct.__struct_fields__
    return tuple((f, f.removesuffix("_url")) for f in fields if f.endswith("_url"))


# Rows are frozen values and the same row renders the same: lists repeat the same owners
# and namespaces on row after row, so their shapes are kept (each request's rows are
# fresh objects: the cache is keyed by value).
@functools.lru_cache(maxsize=1024)
def user_out(user: UserRow) -> UserOut:
    return copied(UserOut, user)


def namespace_url(base: str, ns: NamespaceRow) -> str:
    return f"{base}/n/{ns.user.username}/{ns.path}"


def namespace_out(base: str, ns: NamespaceRow, build: dict[str, Any] | None = None) -> NamespaceOut:
    """A namespace, with the URLs of its lists (`<url>/-/builds`, ...)."""
    if build is not None:
        return msgspec.structs.replace(_namespace_out(base, ns), build=build)
    return _namespace_out(base, ns)


@functools.lru_cache(maxsize=1024)
def _namespace_out(base: str, ns: NamespaceRow) -> NamespaceOut:
    url = namespace_url(base, ns)
    return copied(
        NamespaceOut,
        ns,
        url=url,
        **links(NamespaceOut, f"{url}/-"),
        user=user_out(ns.user),
        build=None,
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
