"""Webhooks of a namespace: `/api/n/{user}/{path}/-/webhooks[/{id}]`.

Everything here needs write access to the namespace (its root's owner or a collaborator),
reading included. Checks run in the CONTRACT's order, all before the body is read: token
(401), scope (403), the namespace as the caller may see it (404), then write access and
the addressed webhook (404: to a reader the namespace has no webhooks). Creating is the
exception: a reader who sends a good body is refused with 422 by the use case, as for
other things one may see but not create.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from litestar import Controller, Request, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody

from api.access import namespace_guard
from api.auth import SAFE_METHODS, Caller, scope_error
from api.render import api_base, iso, namespace_out, namespace_url, origin, settled
from api.schemas.namespaces import NamespaceOut
from api.schemas.webhooks import LastResponseOut, WebhookIn, WebhookOut
from application.access import can_write_namespace
from application.webhooks import WebhookFields
from infrastructure.bootstrap import Marid
from projections.rows import NamespaceRow
from projections.webhooks import WebhookRow

Req = Request[Any, Any, Any]
HOOKS = "/api/n/{user:str}/{path:str}/-/webhooks"
ONE = HOOKS + "/{webhook_id:str}"
# Djinn routes `{id}` as `[0-9]+`; more digits than any id could have is not one either.
WEBHOOK_ID = re.compile(r"[0-9]{1,18}")
ACCESS = {"namespace": "write", "webhooks": True}


async def webhook_read_scope(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Reads need `webhook:read` (403 before any 404); writes declare their scope in `opt`.

    Anonymous reads go on, to the 404 that anyone without write access gets.
    """
    if not handler.opt.get("webhooks") or connection.scope.get("method") not in SAFE_METHODS:
        return
    caller: Caller = connection.scope["state"]["caller"]
    if caller.user is not None and not caller.can("webhook", "read"):
        raise scope_error("webhook", "read")


async def webhook_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """After `namespace_guard`: write access, then the addressed webhook of this namespace."""
    if not handler.opt.get("webhooks"):
        return
    state = connection.scope["state"]
    marid: Marid = connection.app.state.marid
    creating = connection.scope.get("method") == "POST"
    raw_id = connection.path_params.get("webhook_id")
    state["webhook"] = await anyio.to_thread.run_sync(
        lambda: addressed(marid, state["caller"], state["namespace"], raw_id, creating)
    )


def addressed(
    marid: Marid, caller: Caller, ns: NamespaceRow, raw_id: str | None, creating: bool
) -> WebhookRow | None:
    """The webhook addressed (None for the list routes); 404 when the caller may not see it."""
    if not creating:
        collaborators = marid.namespaces.collaborator_ids(ns.root_id)
        if not can_write_namespace(ns.user_id, collaborators, caller.id):
            raise NotFoundException()
    if raw_id is None:
        return None
    row = marid.webhooks.get(int(raw_id)) if WEBHOOK_ID.fullmatch(raw_id) else None
    if row is None or row.namespace_id != ns.id:
        raise NotFoundException()
    return row


def addressed_webhook(request: Req) -> WebhookRow:
    row: WebhookRow = request.scope["state"]["webhook"]
    return row


def fields_of(data: WebhookIn) -> WebhookFields:
    return WebhookFields(
        payload_url=data.payload_url,
        secret=data.secret,
        remove_secret=bool(data.remove_secret),
        ssl=data.ssl,
        active=data.active,
        events=data.events,
    )


def last_response_out(found: dict[str, Any] | None) -> LastResponseOut | None:
    if found is None:
        return None
    return LastResponseOut(
        code=found["code"],
        duration=int(found["duration"]),
        error=found["error"],
        created_at=iso(found["created_at"]),
    )


def webhook_out(
    base: str,
    ns: NamespaceRow,
    row: WebhookRow,
    namespace: NamespaceOut | None = None,
    last_response: LastResponseOut | None = None,
) -> WebhookOut:
    """The webhook with its real `url` and namespace (Djinn leaves them bare in most answers)."""
    return WebhookOut(
        id=row.id,
        user_id=row.user_id,
        author_id=row.author_id,
        namespace_id=row.namespace_id,
        payload_url=row.payload_url,
        ssl=row.ssl,
        active=row.active,
        events=row.events,
        url=f"{namespace_url(base, ns)}/-/webhooks/{row.id}",
        namespace=namespace or namespace_out(base, ns),
        last_response=last_response,
    )


class WebhookController(Controller):
    tags = ["webhooks"]
    guards = [webhook_read_scope, namespace_guard, webhook_guard]

    @get(HOOKS, sync_to_thread=True, summary="A namespace's webhooks (write access)", opt=ACCESS)
    def list_webhooks(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> list[WebhookOut]:
        """Every webhook of the namespace, by id (not paged, as in Djinn)."""
        base = api_base(request)
        namespace = namespace_out(base, namespace_row)
        rows = marid.webhooks.in_namespace(namespace_row.id)
        return [webhook_out(base, namespace_row, row, namespace) for row in rows]

    @post(
        HOOKS,
        sync_to_thread=True,
        summary="Create a webhook (write access)",
        opt={"scope": "webhook:write", **ACCESS},
    )
    def create_webhook(
        self,
        request: Req,
        data: JSONBody[WebhookIn],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> WebhookOut:
        me = caller.signed_in()
        outcome = marid.app.create_webhook(
            namespace_row.id, me.id, fields_of(data), origin(request, me.id)
        )
        row = settled(marid.webhooks.get(marid.settle(outcome)))
        return webhook_out(api_base(request), namespace_row, row)

    @get(ONE, sync_to_thread=True, summary="Get a webhook (write access)", opt=ACCESS)
    def get_webhook(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> WebhookOut:
        """The webhook with its latest delivery attempt as `last_response`."""
        row = addressed_webhook(request)
        last = last_response_out(marid.webhook_dispatcher.last_response(row.id))
        return webhook_out(api_base(request), namespace_row, row, last_response=last)

    @patch(
        ONE,
        sync_to_thread=True,
        summary="Change the fields sent of a webhook (write access)",
        opt={"scope": "webhook:write", **ACCESS},
    )
    def update_webhook(
        self,
        request: Req,
        data: JSONBody[WebhookIn],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> WebhookOut:
        me = caller.signed_in()
        outcome = marid.app.update_webhook(
            namespace_row.id,
            addressed_webhook(request).id,
            me.id,
            fields_of(data),
            origin(request, me.id),
        )
        row = settled(marid.webhooks.get(marid.settle(outcome)))
        return webhook_out(api_base(request), namespace_row, row)

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete a webhook (write access)",
        opt={"scope": "webhook:delete", **ACCESS},
    )
    def delete_webhook(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> None:
        me = caller.signed_in()
        marid.settle(
            marid.app.delete_webhook(
                namespace_row.id, addressed_webhook(request).id, me.id, origin(request, me.id)
            )
        )
