"""Namespaces: `/api/namespaces` and `/api/n/{user}/{path}` with its sub-lists.

Routes under `/api/n/{user}/{path}` declare `opt={"namespace": ...}`: the namespace guard
finds the namespace (404) before the body is decoded, and provides it as `namespace_row`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody

from api import paging
from api.access import namespace_guard
from api.auth import Caller
from api.controllers.builds import build_out
from api.render import api_base, iso, namespace_out, origin, settled
from api.schemas.namespaces import NamespaceCreate, NamespaceOut, NamespaceUpdate
from api.schemas.users import CollaboratorOut
from infrastructure.bootstrap import Marid
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
NS = "/api/n/{user:str}/{path:str}"
READ = {"namespace": "read"}


class NamespaceController(Controller):
    tags = ["namespaces"]
    guards = [namespace_guard]

    @get("/api/namespaces", sync_to_thread=True, summary="Namespaces you own or collaborate on")
    def list_namespaces(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> Response[list[NamespaceOut]]:
        user = caller.require("namespace", "read")
        page, per_page = paging.requested(request)
        search = request.query_params.get("search")
        rows, at = marid.namespaces.list_for_member(user.id, search, page, per_page)
        base = api_base(request)
        return Response([namespace_out(base, r) for r in rows], headers=paging.headers(request, at))

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
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> NamespaceOut:
        user = caller.signed_in()
        outcome = marid.app.create_namespace(
            user.id,
            data.name,
            data.parent,
            data.description,
            data.visibility,
            origin(request, user.id),
        )
        return namespace_out(
            api_base(request), settled(marid.namespaces.get_by_id(marid.settle(outcome)))
        )

    @get(NS, sync_to_thread=True, summary="Get a namespace", opt=READ)
    def get_namespace(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> NamespaceOut:
        """The namespace, with the latest build submitted to exactly it (its `namespace` null)."""
        base = api_base(request)
        latest = marid.builds.latest_in_namespace(namespace_row.id)
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
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> NamespaceOut:
        me = caller.signed_in()
        outcome = marid.app.update_namespace(
            namespace_row.id,
            me.id,
            data.description,
            data.visibility,
            origin(request, me.id),
            name=data.name,
            parent=data.parent,
        )
        return namespace_out(
            api_base(request), settled(marid.namespaces.get_by_id(marid.settle(outcome)))
        )

    @delete(
        NS,
        sync_to_thread=True,
        summary="Delete a namespace and its whole subtree",
        opt={"scope": "namespace:delete", "namespace": "write"},
    )
    def delete_namespace(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> None:
        me = caller.signed_in()
        outcome = marid.app.delete_namespace(
            namespace_row.id, me.id, origin(request, me.id), marid.namespace_members
        )
        marid.settle(outcome)

    @get(NS + "/-/namespaces", sync_to_thread=True, summary="Child namespaces", opt=READ)
    def children(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> Response[list[NamespaceOut]]:
        page, per_page = paging.requested(request)
        search = request.query_params.get("search")
        rows, at = marid.namespaces.children(namespace_row.id, search, page, per_page)
        base = api_base(request)
        return Response([namespace_out(base, r) for r in rows], headers=paging.headers(request, at))

    @get(
        NS + "/-/collaborators", sync_to_thread=True, summary="Collaborators (owner only)", opt=READ
    )
    def collaborators(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> list[CollaboratorOut]:
        if caller.id != namespace_row.user_id:
            raise NotFoundException()
        ns = namespace_row
        url = f"{api_base(request)}/n/{ns.user.username}/{ns.path}/-/collaborators"
        return [
            CollaboratorOut(
                id=row["u_id"],
                username=row["u_username"],
                email=row["u_email"],
                created_at=iso(row["c_created_at"]),
                url=f"{url}/{row['u_username']}",
            )
            for row in marid.namespaces.collaborators(namespace_row.root_id)
        ]
