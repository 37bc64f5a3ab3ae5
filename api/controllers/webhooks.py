"""Webhooks of a namespace: `/api/n/{user}/{path}/-/webhooks[/{id}]`.

Everything here needs write access to the namespace (its root's owner or a collaborator),
reading included. Checks run in the CONTRACT's order, all before the body is read: token
(401), scope (403), the namespace as the caller may see it (404), then write access and
the addressed webhook (404: to a reader the namespace has no webhooks). Creating is the
exception: a reader who sends a good body is refused with 422 by the use case, as for
other things one may see but not create.

A webhook's deliveries (newest first, paged) and their redelivery are marid's own
routes: Djinn has them in its UI only (reference §11.3).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import anyio
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody

from api.access import namespace_guard
from api.auth import SAFE_METHODS, Actor, Caller, scope_error
from api.deps import Injected, Settle
from api.paging import headers, requested
from api.render import (
    api_base,
    copied,
    copied_items,
    found,
    iso,
    namespace_out,
    namespace_url,
)
from api.schemas.namespaces import NamespaceOut
from api.schemas.webhooks import DeliveryOut, LastResponseOut, WebhookIn, WebhookOut
from application.access import can_write_namespace
from application.webhooks import AddressCheck, WebhookCases, WebhookFields, no_address_check
from domain.errors import NotFoundError
from infrastructure.settings import Settings
from projections.namespace_queries import NamespaceQueries
from projections.rows import NamespaceRow, Page
from projections.webhooks import WebhookQueries, WebhookRow

Req = Request[Any, Any, Any]
HOOKS = "/api/n/{user:str}/{path:str}/-/webhooks"
ONE = HOOKS + "/{webhook_id:str}"
DELIVERIES = ONE + "/deliveries"
REDELIVER = DELIVERIES + "/{delivery_id:str}/redeliver"
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
    marid = connection.app.state.marid
    namespaces, webhooks = marid.namespaces, marid.webhooks
    raw_id = connection.path_params.get("webhook_id")
    creating = connection.scope.get("method") == "POST" and raw_id is None
    state["webhook"] = await anyio.to_thread.run_sync(
        lambda: addressed(
            namespaces, webhooks, state["caller"], state["namespace"], raw_id, creating
        )
    )


def addressed(
    namespaces: NamespaceQueries,
    webhooks: WebhookQueries,
    caller: Caller,
    ns: NamespaceRow,
    raw_id: str | None,
    creating: bool,
) -> WebhookRow | None:
    """The webhook addressed (None for the list routes); 404 when the caller may not see it."""
    if not creating:
        collaborators = namespaces.collaborator_ids(ns.root_id)
        if not can_write_namespace(ns.user_id, collaborators, caller.id):
            raise NotFoundException()
    if raw_id is None:
        return None
    row = webhooks.get(int(raw_id)) if WEBHOOK_ID.fullmatch(raw_id) else None
    if row is None or row.namespace_id != ns.id:
        raise NotFoundException()
    return row


def provide_webhook(request: Req) -> WebhookRow:
    """The webhook that `webhook_guard` found."""
    row: WebhookRow = request.scope["state"]["webhook"]
    return row


class Deliveries(Protocol):
    """The webhook dispatcher (`infrastructure.webhooks`), as reading a webhook uses it."""

    def last_response(self, webhook_id: int) -> dict[str, Any] | None: ...

    def deliveries(
        self, webhook_id: int, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], Page]: ...

    def delivery(self, webhook_id: int, delivery_id: int) -> dict[str, Any] | None: ...

    def redeliver(self, webhook_id: int, delivery_id: int) -> int: ...


def address_check(settings: Settings) -> AddressCheck:
    """How payload URLs are checked when set: their host's addresses, unless private
    addresses are allowed."""
    if settings.allow_private_urls:
        return no_address_check
    from infrastructure.public_http import refused_address  # httpx: slow to import

    return refused_address


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
    return copied_items(LastResponseOut, found, duration=int(found["duration"]))


def delivery_out(hook_url: str, row: dict[str, Any]) -> DeliveryOut:
    last = None
    if row["responded_at"] is not None:
        last = LastResponseOut(
            code=row["code"],
            duration=int(row["duration"]),
            error=row["error"],
            created_at=iso(row["responded_at"]),
        )
    return copied_items(
        DeliveryOut, row, last_response=last, url=f"{hook_url}/deliveries/{row['id']}"
    )


def webhook_out(
    base: str,
    ns: NamespaceRow,
    row: WebhookRow,
    namespace: NamespaceOut | None = None,
    last_response: LastResponseOut | None = None,
) -> WebhookOut:
    """The webhook with its real `url` and namespace (Djinn leaves them bare in most answers)."""
    return copied(
        WebhookOut,
        row,
        url=f"{namespace_url(base, ns)}/-/webhooks/{row.id}",
        namespace=namespace or namespace_out(base, ns),
        last_response=last_response,
    )


class WebhookController(Controller):
    tags = ["webhooks"]
    guards = [webhook_read_scope, namespace_guard, webhook_guard]
    dependencies = {"webhook_row": Provide(provide_webhook, sync_to_thread=False)}

    @get(HOOKS, sync_to_thread=True, summary="A namespace's webhooks (write access)", opt=ACCESS)
    def list_webhooks(
        self,
        request: Req,
        namespace_row: Injected[NamespaceRow],
        webhooks: Injected[WebhookQueries],
    ) -> list[WebhookOut]:
        """Every webhook of the namespace, by id (not paged, as in Djinn)."""
        base = api_base(request)
        namespace = namespace_out(base, namespace_row)
        rows = webhooks.in_namespace(namespace_row.id)
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
        actor: Injected[Actor],
        namespace_row: Injected[NamespaceRow],
        webhook_cases: Injected[WebhookCases],
        settle: Injected[Settle],
        webhooks: Injected[WebhookQueries],
        settings: Injected[Settings],
    ) -> WebhookOut:
        outcome = webhook_cases.create_webhook(
            namespace_row.id, actor.id, fields_of(data), actor.origin, address_check(settings)
        )
        row = found(webhooks.get(settle(outcome)))
        return webhook_out(api_base(request), namespace_row, row)

    @get(ONE, sync_to_thread=True, summary="Get a webhook (write access)", opt=ACCESS)
    def get_webhook(
        self,
        request: Req,
        namespace_row: Injected[NamespaceRow],
        webhook_row: Injected[WebhookRow],
        webhook_dispatcher: Injected[Deliveries],
    ) -> WebhookOut:
        """The webhook with its latest delivery attempt as `last_response`."""
        last = last_response_out(webhook_dispatcher.last_response(webhook_row.id))
        return webhook_out(api_base(request), namespace_row, webhook_row, last_response=last)

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
        actor: Injected[Actor],
        namespace_row: Injected[NamespaceRow],
        webhook_row: Injected[WebhookRow],
        webhook_cases: Injected[WebhookCases],
        settle: Injected[Settle],
        webhooks: Injected[WebhookQueries],
        settings: Injected[Settings],
    ) -> WebhookOut:
        check = address_check(settings)
        outcome = webhook_cases.update_webhook(
            namespace_row.id, webhook_row.id, actor.id, fields_of(data), actor.origin, check
        )
        row = found(webhooks.get(settle(outcome)))
        return webhook_out(api_base(request), namespace_row, row)

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete a webhook (write access)",
        opt={"scope": "webhook:delete", **ACCESS},
    )
    def delete_webhook(
        self,
        actor: Injected[Actor],
        namespace_row: Injected[NamespaceRow],
        webhook_row: Injected[WebhookRow],
        webhook_cases: Injected[WebhookCases],
        settle: Injected[Settle],
    ) -> None:
        outcome = webhook_cases.delete_webhook(
            namespace_row.id, webhook_row.id, actor.id, actor.origin
        )
        settle(outcome)

    @get(
        DELIVERIES,
        sync_to_thread=True,
        summary="A webhook's deliveries, newest first (write access)",
        opt=ACCESS,
    )
    def list_deliveries(
        self,
        request: Req,
        namespace_row: Injected[NamespaceRow],
        webhook_row: Injected[WebhookRow],
        webhook_dispatcher: Injected[Deliveries],
    ) -> Response[list[DeliveryOut]]:
        """Each with its latest attempt as `last_response`; paged like every list."""
        rows, at = webhook_dispatcher.deliveries(webhook_row.id, *requested(request))
        hook_url = f"{namespace_url(api_base(request), namespace_row)}/-/webhooks/{webhook_row.id}"
        return Response([delivery_out(hook_url, row) for row in rows], headers=headers(request, at))

    @post(
        REDELIVER,
        sync_to_thread=True,
        summary="Send a delivery again, as a new delivery (write access)",
        opt={"scope": "webhook:write", **ACCESS},
    )
    def redeliver(
        self,
        request: Req,
        namespace_row: Injected[NamespaceRow],
        webhook_row: Injected[WebhookRow],
        webhook_dispatcher: Injected[Deliveries],
    ) -> DeliveryOut:
        """201 with the new delivery, queued now; 400 when the webhook is not active."""
        raw_id = str(request.path_params["delivery_id"])
        if not WEBHOOK_ID.fullmatch(raw_id):  # ids are digits (Djinn's `[0-9]+`)
            raise NotFoundError("delivery")
        new_id = webhook_dispatcher.redeliver(webhook_row.id, int(raw_id))
        row = found(webhook_dispatcher.delivery(webhook_row.id, new_id))
        hook_url = f"{namespace_url(api_base(request), namespace_row)}/-/webhooks/{webhook_row.id}"
        return delivery_out(hook_url, row)
