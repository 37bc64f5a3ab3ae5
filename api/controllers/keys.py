"""SSH keys: `/api/keys` and a namespace's `/-/keys`. The private key is never returned."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import JSONBody

from api.access import namespace_guard, resource_guard
from api.auth import Actor, Caller
from api.deps import Injected, Settle
from api.render import api_base
from api.resources import Namespaced, resource_out
from api.schemas.keys import KeyCreate, KeyOut, KeyUpdate
from application.keys import KeyCases
from projections.resources import ResourceQueries, ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
ONE = "/api/keys/{key_id:int}"


def key_out(base: str, row: ResourceRow) -> KeyOut:
    return resource_out(KeyOut, base, row, "keys")


KEYS = Namespaced("key", key_out)


class KeyController(Controller):
    tags = ["keys"]
    guards = [namespace_guard, resource_guard]

    @get("/api/keys", sync_to_thread=True, summary="SSH keys you can see")
    def list_keys(
        self, request: Req, caller: Injected[Caller], keys: Injected[ResourceQueries]
    ) -> Response[list[KeyOut]]:
        return KEYS.visible(request, caller, keys)

    @post("/api/keys", sync_to_thread=True, summary="Create an SSH key", opt={"scope": "key:write"})
    def create_key(
        self,
        request: Req,
        data: JSONBody[KeyCreate],
        actor: Injected[Actor],
        key_cases: Injected[KeyCases],
        settle: Injected[Settle],
        keys: Injected[ResourceQueries],
    ) -> KeyOut:
        outcome = key_cases.create_key(
            actor.id, data.name, data.key, data.config, data.namespace, actor.origin
        )
        return KEYS.one(request, keys.get(settle(outcome)))

    @get(ONE, sync_to_thread=True, summary="Get an SSH key", opt={"resource": "key"})
    def get_key(self, request: Req, resource_row: Injected[ResourceRow]) -> KeyOut:
        return key_out(api_base(request), resource_row)

    @patch(
        ONE,
        sync_to_thread=True,
        summary="Change an SSH key's config",
        opt={"scope": "key:write", "resource": "key"},
    )
    def update_key(
        self,
        request: Req,
        data: JSONBody[KeyUpdate],
        actor: Injected[Actor],
        resource_row: Injected[ResourceRow],
        key_cases: Injected[KeyCases],
        settle: Injected[Settle],
        keys: Injected[ResourceQueries],
    ) -> KeyOut:
        outcome = key_cases.update_key(
            resource_row.id,
            actor.id,
            data.config,
            actor.origin,
            name=data.name,
            namespace=data.namespace,
            key=data.key,
        )
        return KEYS.one(request, keys.get(settle(outcome)))

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete an SSH key",
        opt={"scope": "key:delete", "resource": "key"},
    )
    def delete_key(
        self,
        actor: Injected[Actor],
        resource_row: Injected[ResourceRow],
        key_cases: Injected[KeyCases],
        settle: Injected[Settle],
    ) -> None:
        settle(key_cases.delete_key(resource_row.id, actor.id, actor.origin))

    @get(
        "/api/n/{user:str}/{path:str}/-/keys",
        sync_to_thread=True,
        summary="A namespace's SSH keys",
        opt={"namespace": "read"},
    )
    def namespace_keys(
        self, request: Req, namespace_row: Injected[NamespaceRow], keys: Injected[ResourceQueries]
    ) -> Response[list[KeyOut]]:
        return KEYS.in_namespace(request, namespace_row, keys)
