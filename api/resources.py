"""What the controllers of namespaced resources (variables, keys, objects, images, crons)
share: their lists, and the fields every one of their JSON shapes has.

Finding one resource by id, as the caller may see it, is `api.access.resource_guard`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

import msgspec
from litestar import Request, Response

from api import paging
from api.auth import Caller
from api.render import api_base, copied_items, found, namespace_out, user_out
from projections.resources import ResourceQueries, ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
Out = TypeVar("Out")
S = TypeVar("S", bound=msgspec.Struct)


def resource_out(struct: type[S], base: str, row: ResourceRow, path: str, **own: Any) -> S:
    """A resource's JSON: the fields every resource has (`url` is `<base>/<path>/<id>`),
    its own fields as `own` gives them, the others copied from its row's columns."""
    return copied_items(
        struct,
        row.fields,
        url=f"{base}/{path}/{row.id}",
        author=user_out(row.author),
        user=user_out(row.user),
        namespace=namespace_out(base, row.namespace) if row.namespace is not None else None,
        **own,
    )


@dataclass(frozen=True)
class Namespaced(Generic[Out]):
    """One kind of namespaced resource as the API lists and renders it."""

    kind: str  # as in its scopes: `variable` for `variable:read`
    render: Callable[[str, ResourceRow], Out]

    def visible(
        self, request: Req, caller: Caller, queries: ResourceQueries
    ) -> Response[list[Out]]:
        """`GET /api/<kind>s`: what the caller owns or may see through a namespace tree."""
        user = caller.require(self.kind, "read")
        fetch = partial(queries.visible, user.id, request.query_params.get("search"))
        return paging.paged(request, fetch, self.render)

    def in_namespace(
        self, request: Req, ns: NamespaceRow, queries: ResourceQueries
    ) -> Response[list[Out]]:
        """`GET /api/n/{user}/{path}/-/<kind>s`, the namespace being readable."""
        fetch = partial(queries.in_namespace, ns.id, request.query_params.get("search"))
        return paging.paged(request, fetch, self.render)

    def one(self, request: Req, row: ResourceRow | None) -> Out:
        """The resource a write settled (404 if it was deleted meanwhile)."""
        return self.render(api_base(request), found(row))
