"""SSH keys: `/api/keys` and a namespace's `/-/keys`. The private key is never returned."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api import paging
from api.access import namespace_guard
from api.auth import Caller
from api.render import api_base, iso, origin, settled
from api.resources import common_fields, readable_resource, resource_guard
from api.schemas.keys import KeyCreate, KeyOut, KeyUpdate
from infrastructure.bootstrap import Marid
from projections.resources import ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
ONE = "/api/keys/{key_id:int}"


def key_out(base: str, row: ResourceRow) -> KeyOut:
    f = row.fields
    return KeyOut(
        name=f["name"],
        config=f["config"],
        updated_at=iso(f["updated_at"]),
        **common_fields(base, row, f"{base}/keys/{f['id']}"),  # type: ignore[arg-type]
    )


class KeyController(Controller):
    tags = ["keys"]
    guards = [namespace_guard, resource_guard]

    @get("/api/keys", sync_to_thread=True, summary="SSH keys you can see")
    def list_keys(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> Response[list[KeyOut]]:
        user = caller.require("key", "read")
        page, per_page = paging.requested(request)
        rows, at = marid.keys.visible(user.id, request.query_params.get("search"), page, per_page)
        base = api_base(request)
        return Response([key_out(base, r) for r in rows], headers=paging.headers(request, at))

    @post("/api/keys", sync_to_thread=True, summary="Create an SSH key", opt={"scope": "key:write"})
    def create_key(
        self,
        request: Req,
        data: JSONBody[KeyCreate],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> KeyOut:
        user = caller.signed_in()
        outcome = marid.app.create_key(
            user.id, data.name, data.key, data.config, data.namespace, origin(request, user.id)
        )
        return key_out(api_base(request), settled(marid.keys.get(marid.settle(outcome))))

    @get(ONE, sync_to_thread=True, summary="Get an SSH key")
    def get_key(
        self,
        request: Req,
        key_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> KeyOut:
        row = readable_resource(marid, caller, marid.keys.get(key_id), "key")
        return key_out(api_base(request), row)

    @patch(
        ONE,
        sync_to_thread=True,
        summary="Change an SSH key's config",
        opt={"scope": "key:write", "resource": "key"},
    )
    def update_key(
        self,
        request: Req,
        key_id: FromPath[int],
        data: JSONBody[KeyUpdate],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> KeyOut:
        user = caller.signed_in()
        outcome = marid.app.update_key(
            key_id,
            user.id,
            data.config,
            origin(request, user.id),
            name=data.name,
            namespace=data.namespace,
            key=data.key,
        )
        return key_out(api_base(request), settled(marid.keys.get(marid.settle(outcome))))

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete an SSH key",
        opt={"scope": "key:delete", "resource": "key"},
    )
    def delete_key(
        self,
        request: Req,
        key_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> None:
        user = caller.signed_in()
        marid.settle(marid.app.delete_key(key_id, user.id, origin(request, user.id)))

    @get(
        "/api/n/{user:str}/{path:str}/-/keys",
        sync_to_thread=True,
        summary="A namespace's SSH keys",
        opt={"namespace": "read"},
    )
    def namespace_keys(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> Response[list[KeyOut]]:
        page, per_page = paging.requested(request)
        rows, at = marid.keys.in_namespace(
            namespace_row.id, request.query_params.get("search"), page, per_page
        )
        base = api_base(request)
        return Response([key_out(base, r) for r in rows], headers=paging.headers(request, at))
