"""Namespaces: `/api/namespaces` and `/api/n/{user}/{path}` with its sub-lists."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from api import paging
from api.access import readable_namespace
from api.auth import Caller
from api.render import api_base, iso, namespace_out
from api.schemas.namespaces import NamespaceCreate, NamespaceOut, NamespaceUpdate
from api.schemas.users import CollaboratorOut
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
NS = "/api/n/{user:str}/{path:str}"


def origin(request: Req, user_id: int) -> Origin:
    return Origin.user(user_id, request.scope.get("state", {}).get("request_id"))


def fresh(marid: Marid, namespace_id: int) -> NamespaceRow:
    row = marid.namespaces.get_by_id(namespace_id)
    if row is None:  # the read model did not catch up within the wait bound
        raise NotFoundException()
    return row


class NamespaceController(Controller):
    tags = ["namespaces"]

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

    @post("/api/namespaces", sync_to_thread=True, summary="Create a namespace")
    def create_namespace(
        self,
        request: Req,
        data: JSONBody[NamespaceCreate],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> NamespaceOut:
        user = caller.require("namespace", "write")
        outcome = marid.app.create_namespace(
            user.id,
            data.name,
            data.parent,
            data.description,
            data.visibility,
            origin(request, user.id),
        )
        return namespace_out(api_base(request), fresh(marid, marid.settle(outcome)))

    @get(NS, sync_to_thread=True, summary="Get a namespace")
    def get_namespace(
        self,
        request: Req,
        user: FromPath[str],
        path: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> NamespaceOut:
        ns = readable_namespace(marid, caller, user, path)
        return namespace_out(api_base(request), ns)

    @patch(NS, sync_to_thread=True, summary="Change a namespace's description or visibility")
    def update_namespace(
        self,
        request: Req,
        user: FromPath[str],
        path: FromPath[str],
        data: JSONBody[NamespaceUpdate],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> NamespaceOut:
        me = caller.require("namespace", "write")
        ns = readable_namespace(marid, caller, user, path, read_scope=False)
        outcome = marid.app.update_namespace(
            ns.id, me.id, data.description, data.visibility, origin(request, me.id), name=data.name
        )
        return namespace_out(api_base(request), fresh(marid, marid.settle(outcome)))

    @delete(NS, sync_to_thread=True, summary="Delete a namespace and its whole subtree")
    def delete_namespace(
        self,
        request: Req,
        user: FromPath[str],
        path: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> None:
        me = caller.require("namespace", "delete")
        ns = readable_namespace(marid, caller, user, path, read_scope=False)
        marid.settle(marid.app.delete_namespace(ns.id, me.id, origin(request, me.id)))

    @get(NS + "/-/namespaces", sync_to_thread=True, summary="Child namespaces")
    def children(
        self,
        request: Req,
        user: FromPath[str],
        path: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> Response[list[NamespaceOut]]:
        ns = readable_namespace(marid, caller, user, path)
        page, per_page = paging.requested(request)
        rows, at = marid.namespaces.children(
            ns.id, request.query_params.get("search"), page, per_page
        )
        base = api_base(request)
        return Response([namespace_out(base, r) for r in rows], headers=paging.headers(request, at))

    @get(NS + "/-/collaborators", sync_to_thread=True, summary="Collaborators (owner only)")
    def collaborators(
        self,
        request: Req,
        user: FromPath[str],
        path: FromPath[str],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> list[CollaboratorOut]:
        ns = readable_namespace(marid, caller, user, path)
        if caller.id != ns.user_id:
            raise NotFoundException()
        url = f"{api_base(request)}/n/{ns.user.username}/{ns.path}/-/collaborators"
        return [
            CollaboratorOut(
                id=row["u_id"],
                username=row["u_username"],
                email=row["u_email"],
                created_at=iso(row["c_created_at"]),
                url=f"{url}/{row['u_username']}",
            )
            for row in marid.namespaces.collaborators(ns.root_id)
        ]
