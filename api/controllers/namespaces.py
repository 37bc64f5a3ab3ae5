"""Namespaces: `/api/namespaces` and `/api/n/{user}/{path}` with its sub-lists.

Routes under `/api/n/{user}/{path}` declare `opt={"namespace": ...}`: the namespace guard
finds the namespace (404) before the body is decoded, and provides it as `namespace_row`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody

from api import paging
from api.access import namespace_guard
from api.auth import Actor, Caller
from api.deps import Injected, Settle
from api.render import api_base, found, iso, namespace_out, struct_of
from api.render_builds import build_out
from api.schemas.namespaces import NamespaceCreate, NamespaceOut, NamespaceUpdate
from api.schemas.users import CollaboratorOut
from application.namespaces import NamespaceCases
from application.ports import NamespaceMembers
from projections.builds import BuildQueries
from projections.namespace_queries import NamespaceQueries
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
NS = "/api/n/{user:str}/{path:str}"
READ = {"namespace": "read"}


def namespace_written(
    request: Req, namespaces: NamespaceQueries, namespace_id: int
) -> NamespaceOut:
    """The namespace a write settled (404 if it was deleted meanwhile)."""
    return namespace_out(api_base(request), found(namespaces.get_by_id(namespace_id)))


def collaborator_out(url: str, row: dict[str, Any]) -> CollaboratorOut:
    """A collaborator: the user's columns (`u_<field>`), added at `c_created_at`."""
    return struct_of(
        CollaboratorOut,
        lambda name: row[f"u_{name}"],
        created_at=iso(row["c_created_at"]),
        url=f"{url}/{row['u_username']}",
    )


class NamespaceController(Controller):
    tags = ["namespaces"]
    guards = [namespace_guard]

    @get("/api/namespaces", sync_to_thread=True, summary="Namespaces you own or collaborate on")
    def list_namespaces(
        self, request: Req, caller: Injected[Caller], namespaces: Injected[NamespaceQueries]
    ) -> Response[list[NamespaceOut]]:
        user = caller.require("namespace", "read")
        search = request.query_params.get("search")
        return paging.paged(
            request, partial(namespaces.list_for_member, user.id, search), namespace_out
        )

    @post(
        "/api/namespaces",
        sync_to_thread=True,
        summary="Create a namespace",
        opt={"scope": "namespace:write"},
    )
    def create_namespace(
        self,
        request: Req,
        data: JSONBody[NamespaceCreate],
        actor: Injected[Actor],
        namespace_cases: Injected[NamespaceCases],
        settle: Injected[Settle],
        namespaces: Injected[NamespaceQueries],
    ) -> NamespaceOut:
        outcome = namespace_cases.create_namespace(
            actor.id, data.name, data.parent, data.description, data.visibility, actor.origin
        )
        return namespace_written(request, namespaces, settle(outcome))

    @get(NS, sync_to_thread=True, summary="Get a namespace", opt=READ)
    def get_namespace(
        self, request: Req, namespace_row: Injected[NamespaceRow], builds: Injected[BuildQueries]
    ) -> NamespaceOut:
        """The namespace, with the latest build submitted to exactly it (its `namespace` null)."""
        base = api_base(request)
        latest = builds.latest_in_namespace(namespace_row.id)
        build = None
        if latest is not None:
            build = msgspec.to_builtins(build_out(base, replace(latest, namespace=None)))
        return namespace_out(base, namespace_row, build)

    @patch(
        NS,
        sync_to_thread=True,
        summary="Change a namespace's description or visibility",
        opt={"scope": "namespace:write", "namespace": "write"},
    )
    def update_namespace(
        self,
        request: Req,
        data: JSONBody[NamespaceUpdate],
        actor: Injected[Actor],
        namespace_row: Injected[NamespaceRow],
        namespace_cases: Injected[NamespaceCases],
        settle: Injected[Settle],
        namespaces: Injected[NamespaceQueries],
    ) -> NamespaceOut:
        outcome = namespace_cases.update_namespace(
            namespace_row.id,
            actor.id,
            data.description,
            data.visibility,
            actor.origin,
            name=data.name,
            parent=data.parent,
        )
        return namespace_written(request, namespaces, settle(outcome))

    @delete(
        NS,
        sync_to_thread=True,
        summary="Delete a namespace and its whole subtree",
        opt={"scope": "namespace:delete", "namespace": "write"},
    )
    def delete_namespace(
        self,
        actor: Injected[Actor],
        namespace_row: Injected[NamespaceRow],
        namespace_cases: Injected[NamespaceCases],
        namespace_members: Injected[NamespaceMembers],
        settle: Injected[Settle],
    ) -> None:
        settle(
            namespace_cases.delete_namespace(
                namespace_row.id, actor.id, actor.origin, namespace_members
            )
        )

    @get(NS + "/-/namespaces", sync_to_thread=True, summary="Child namespaces", opt=READ)
    def children(
        self,
        request: Req,
        namespace_row: Injected[NamespaceRow],
        namespaces: Injected[NamespaceQueries],
    ) -> Response[list[NamespaceOut]]:
        search = request.query_params.get("search")
        fetch = partial(namespaces.children, namespace_row.id, search)
        return paging.paged(request, fetch, namespace_out)

    @get(
        NS + "/-/collaborators", sync_to_thread=True, summary="Collaborators (owner only)", opt=READ
    )
    def collaborators(
        self,
        request: Req,
        caller: Injected[Caller],
        namespace_row: Injected[NamespaceRow],
        namespaces: Injected[NamespaceQueries],
    ) -> list[CollaboratorOut]:
        ns = namespace_row
        if caller.id != ns.user_id:
            raise NotFoundException()
        url = f"{api_base(request)}/n/{ns.user.username}/{ns.path}/-/collaborators"
        return [collaborator_out(url, row) for row in namespaces.collaborators(ns.root_id)]
