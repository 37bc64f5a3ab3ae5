"""What each API operation does that its signature does not show: who may call it, with
which scopes, which errors it can answer, which query parameters it reads.

Read from the route handlers as `api.auth.authenticate` and the guards of `api.access` read
them (`opt`, the dependencies a handler asks for), plus the few rules that live in handler
bodies (`caller.require(...)`), listed here by path.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Response
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from api.auth import CALLER_DEPENDENCIES, FINDERS, SAFE_METHODS
from api.paging import MAX_PER_PAGE, PER_PAGE
from api.schemas.builds import BuildOut
from domain.builds import STATUSES

# Top-level lists: a token with `<kind>:read` (checked in the handler).
LIST_SCOPES = {
    "/api/builds": "build:read",
    "/api/namespaces": "namespace:read",
    "/api/variables": "variable:read",
    "/api/keys": "key:read",
    "/api/images": "image:read",
    "/api/objects": "object:read",
    "/api/cron": "cron:read",
    "/api/invites": "invite:read",
}
# Scopes checked in handler bodies, on top of what the guards check.
HANDLER_SCOPES = {
    ("GET", "/api/cron/{cron_id}/builds"): ("cron:read", "build:read"),
    ("GET", "/api/objects/{object_id}/builds"): ("object:read", "build:read"),
    ("GET", "/api/n/{user}/{path}/-/invites"): ("invite:read",),
}
# Reads that find nothing by path but still answer 404 (the audit is admins' only).
HIDDEN = frozenset({("GET", "/api/audit")})


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


TEXT = {"type": "string"}
PAGING = (
    _param(
        "page",
        {"type": "integer", "minimum": 1},
        "1-based; missing or invalid: 1; past the end: the last page.",
    ),
    _param(
        "per_page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        f"Page size, 1-{MAX_PER_PAGE} (default {PER_PAGE}).",
    ),
)
SEARCH = _param("search", TEXT, "Case-insensitive substring of the name.")
STATUS = _param(
    "status",
    {"type": "string", "enum": list(STATUSES)},
    "Only this status (`passed` also matches `passed_with_failures`).",
)
BUILD_FILTERS = (
    _param("search", TEXT, "Case-insensitive substring of a tag name."),
    _param("tag", TEXT, "Only builds with this tag."),
    STATUS,
    _param("pinned", {"type": "boolean"}, "Only pinned builds (any value but false, 0, no, off)."),
)
AUDIT_FILTERS = (
    _param("resource", TEXT, "`kind:id` or `namespace:owner/path`, e.g. `variable:12`."),
    _param("actor", TEXT, "A username or `system:...`."),
    _param("since", {"type": "string", "format": "date-time"}, "RFC 3339."),
    _param("until", {"type": "string", "format": "date-time"}, "RFC 3339."),
    _param("event", TEXT, "An event type name."),
    _param("request_id", TEXT, "The request that recorded the event."),
)
QUERY_OVERRIDES = {
    ("GET", "/api/b/{user}/{number}/jobs"): (
        _param("name", TEXT, "Only the job of this name."),
        STATUS,
    ),
    ("GET", "/api/audit"): (*PAGING, *AUDIT_FILTERS),
}


@dataclass(frozen=True)
class Operation:
    """One method of one route, as the document should describe it."""

    method: str
    path: str  # as in the document: `/api/b/{user}/{number}`
    handler: HTTPRouteHandler
    scopes: tuple[str, ...] = ()
    query: tuple[dict[str, Any], ...] = ()
    paged: bool = False
    errors: frozenset[int] = field(default_factory=frozenset)
    security: list[dict[str, list[str]]] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


def operations(app: Litestar) -> Iterator[Operation]:
    """Every documented operation of the app."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                yield describe(method, route.path_format or "/", handler)


def describe(method: str, path: str, handler: HTTPRouteHandler) -> Operation:
    opt = handler.opt
    guarded = bool(
        CALLER_DEPENDENCIES & handler.parsed_fn_signature.parameters.keys() or FINDERS & opt.keys()
    )
    write = method not in SAFE_METHODS
    has_path_params = "{" in path
    # A read that addresses nothing in a namespace is the caller's own: it needs a token.
    token_required = guarded and (write or not has_path_params)
    scopes = _scopes(method, path, opt) if guarded else ()
    paged = _is_paged(handler)
    query = QUERY_OVERRIDES.get((method, path), _query(handler, paged))
    errors = {429, 500}
    if has_path_params or query or handler.parsed_data_field is not None or write:
        errors.add(400)
    if guarded:
        errors.add(401)
    if scopes:
        errors.add(403)
    if has_path_params or write or (method, path) in HIDDEN:
        errors.add(404)  # writes: what they read back may be deleted meanwhile
    if write and guarded:
        errors |= {409, 413, 422, 503}
    if path == "/metrics":
        errors.add(401)
        security: list[dict[str, list[str]]] = [{"metricsToken": []}, {}]
    elif not guarded:
        security = []
    elif token_required:
        security = [{"bearer": list(scopes)}]
    else:
        security = [{"bearer": list(scopes)}, {}]
    return Operation(method, path, handler, scopes, query, paged, frozenset(errors), security)


def _scopes(method: str, path: str, opt: dict[str, Any]) -> tuple[str, ...]:
    if "scope" in opt:
        return (str(opt["scope"]),)
    found: list[str] = []
    if method == "GET" and path in LIST_SCOPES:
        found.append(LIST_SCOPES[path])
    if opt.get("webhooks"):
        found.append("webhook:read")
    elif opt.get("namespace") == "read":
        found.append("namespace:read")
    if "resource" in opt:
        found.append(f"{opt['resource']}:read")
    if opt.get("build") in ("read", "item"):
        found.append("build:read")
    for scope in HANDLER_SCOPES.get((method, path), ()):
        if scope not in found:
            found.append(scope)
    return tuple(found)


def _is_paged(handler: HTTPRouteHandler) -> bool:
    """Paged lists answer `Response[list[...]]` (`api.paging.paged`); bare lists are whole."""
    annotation = handler.parsed_fn_signature.return_type.annotation
    if typing.get_origin(annotation) is not Response:
        return False
    (body,) = typing.get_args(annotation) or (None,)
    return typing.get_origin(body) is list


def _query(handler: HTTPRouteHandler, paged: bool) -> tuple[dict[str, Any], ...]:
    if not paged:
        return ()
    annotation = handler.parsed_fn_signature.return_type.annotation
    (item,) = typing.get_args(typing.get_args(annotation)[0])
    return (*PAGING, *(BUILD_FILTERS if item is BuildOut else (SEARCH,)))
