"""The Litestar application factory."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.typing import FieldDefinition

from api.auth import authenticate
from api.badge import BadgeController
from api.controllers.audit import AuditController
from api.controllers.build_parts import BuildPartsController
from api.controllers.builds import BuildController
from api.controllers.crons import CronController
from api.controllers.images import ImageController
from api.controllers.invites import InviteController
from api.controllers.keys import KeyController
from api.controllers.namespaces import NamespaceController
from api.controllers.objects import ObjectController
from api.controllers.root import RootController
from api.controllers.variables import VariableController
from api.controllers.webhooks import WebhookController
from api.decoding import MaridRequest, label, refuse_undecodable
from api.deps import DEPENDENCIES
from api.errors import EXCEPTION_HANDLERS, NUL, TOO_DEEP, NoFields, check_body, nul_errors
from api.openapi import openapi_config
from api.operations import Operations, OperationsController
from api.ratelimit import RateLimiter, too_many
from api.web import WEB_HANDLERS, template_config
from api.webhook_payloads import WebhookPayloads
from domain.errors import ValidationError
from infrastructure import logs
from infrastructure.bootstrap import Marid, bootstrap
from infrastructure.metrics import UNMATCHED, HttpMetrics, new_registry
from infrastructure.settings import Settings

log = logging.getLogger("marid.api")

# `/api/n/{user}/{a/b/c}/-/{sub...}`: the namespace path may hold slashes, and Litestar's
# path parameters may not be followed by more segments, so the path travels through
# routing as one segment with `:` for `/` (names are letters and digits only).
NAMESPACE_PATH = re.compile(r"^(/api/n/[^/]+/)(.+?)(/-(?:/.*)?)?/?$")
JSON_UTF8 = b"application/json; charset=utf-8"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Request ids: 16 random hex digits per process, then a counter (16 hex digits): unique
# across processes without a system call per request, as uuid4 made (6 % of a list's time).
_REQUEST_PREFIX = secrets.token_hex(8)
_request_numbers = itertools.count(1)


def new_request_id() -> str:
    return f"{_REQUEST_PREFIX}{next(_request_numbers):016x}"


class MaridAPI(Litestar):
    """Litestar with four things done around routing: namespace paths, request ids (also
    in every log line of the request), per-client rate limits and request metrics."""

    rate_limiter = RateLimiter(0)
    http_metrics: HttpMetrics | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["original_path"] = scope["path"]
        if "\x00" in scope["path"]:  # no route has one; 404 before any lookup sees it
            scope["path"] = "/api/-/invalid-path"
        match = NAMESPACE_PATH.match(scope["path"])
        if match and ":" not in match.group(2):
            head, ns_path, rest = match.groups()
            scope["path"] = head + ns_path.strip("/").replace("/", ":") + (rest or "")
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if REQUEST_ID.match(incoming) else new_request_id()
        state["request_id"] = request_id
        logged_as = logs.request_id.set(request_id)
        try:
            await self._serve(scope, receive, send, request_id)
        finally:
            logs.request_id.reset(logged_as)

    async def _serve(self, scope: Any, receive: Any, send: Any, request_id: str) -> None:
        started = time.perf_counter()
        status, responded = 500, 0.0  # if the app fails before it starts a response
        verdict = self.rate_limiter.check_request(scope) if self.rate_limiter.enabled else None
        if verdict is not None and not verdict.allowed:
            for message in too_many(verdict, request_id):
                await send(message)
            self._observe(scope, 429, time.perf_counter() - started)
            return

        async def send_with_id(message: Any) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], time.perf_counter()
                headers = [
                    (k, JSON_UTF8)
                    if k.lower() == b"content-type" and v == b"application/json"
                    else (k, v)
                    for k, v in message.get("headers", [])
                ]
                headers.append((b"x-request-id", request_id.encode()))
                if verdict is not None:
                    headers += verdict.headers()
                message["headers"] = headers
            await send(message)

        try:
            await super().__call__(scope, receive, send_with_id)
        finally:
            # Latency until the response starts: an output stream may then run for hours.
            self._observe(scope, status, (responded or time.perf_counter()) - started)

    def _observe(self, scope: Any, status: int, seconds: float) -> None:
        if self.http_metrics is not None:
            route = scope.get("path_template") or UNMATCHED  # a template: bounded labels
            self.http_metrics.observe(scope["method"], route, status, seconds)


async def screen_request(request: Request[Any, Any, Any]) -> None:
    """Refuse, after authentication and before decoding, input no handler should see.

    NUL characters anywhere (PostgreSQL text cannot hold them: in an event they would stop
    a projection), JSON nested too deeply to decode, and a body on a DELETE, which reads
    none. Reading the body here also enforces the size limit (413).
    """
    if NUL in request.scope["path"]:
        raise NotFoundException()
    bad_params = {k for k, v in request.query_params.multi_items() if NUL in k or NUL in v}
    if bad_params:
        raise ValidationError(
            {k: [f"{label(k)} cannot contain NUL characters"] for k in bad_params}
        )
    if request.method not in WRITE_METHODS:
        return
    data_field = request.route_handler.parsed_data_field
    if data_field is None and request.method == "DELETE":
        body = await request.body()
        # The body is ignored, but it must still be a JSON object without NUL characters.
        problem = (check_body(body, NoFields) or screen_json(body)) if body.strip() else None
    elif data_field is not None and reads_json(data_field):
        problem = screen_json(await request.body())
    else:
        return
    if isinstance(problem, str):
        raise ClientException(problem)
    if problem:
        raise ValidationError(problem)


def reads_json(data_field: FieldDefinition) -> bool:
    media_type = getattr(data_field.kwarg_definition, "media_type", None)
    return media_type in (None, RequestEncodingType.JSON)


def screen_json(body: bytes) -> str | dict[str, list[str]] | None:
    """A message for JSON nested too deeply, or the fields holding NUL characters."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None  # reported by the handler's decoding, with the same table
    except RecursionError:
        return TOO_DEEP
    return nul_errors(data)


def create_app(settings: Settings, *, marid: Marid | None = None) -> MaridAPI:
    """Build the API around a wired `marid`; without one, the API wires, migrates and
    starts its own at startup (and closes it at shutdown)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = marid is None
        instance = marid or bootstrap(settings)
        try:
            if owned:
                instance.migrate()
            instance.webhook_dispatcher.install(WebhookPayloads(instance))  # runs if started
            if owned and settings.run_projections:
                instance.start()
            app.state.marid = instance
            yield
        finally:
            if owned:
                instance.close()

    app = MaridAPI(
        route_handlers=[
            RootController,
            NamespaceController,
            InviteController,
            VariableController,
            KeyController,
            ImageController,
            ObjectController,
            BuildController,
            BuildPartsController,
            CronController,
            WebhookController,
            BadgeController,
            AuditController,
            OperationsController,
            *WEB_HANDLERS,
        ],
        dependencies=DEPENDENCIES,
        guards=[authenticate],
        before_request=screen_request,
        after_request=refuse_undecodable,
        request_class=MaridRequest,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_size,
        openapi_config=openapi_config(),
        template_config=template_config(),
        debug=False,
        logging_config=None,  # the process's one format (infrastructure.logs), not Litestar's
    )
    fresh_counters(app, settings)
    return app


def fresh_counters(app: MaridAPI, settings: Settings) -> None:
    """Give the app new per-process counters: the rate limiter's windows and the request
    metrics (with the registry `/metrics` reads), as at the start of a process."""
    app.rate_limiter = RateLimiter(settings.rate_limit)
    registry, app.http_metrics = new_registry(lambda: getattr(app.state, "marid", None))
    app.state.operations = Operations(settings, registry)
