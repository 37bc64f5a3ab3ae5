"""`/healthz`, `/readyz` and `/metrics`: for load balancers, orchestrators and Prometheus.

No `/api` prefix and no user token (CONTRACT.md "Operations endpoints"); `/metrics` asks
for `MARID_METRICS_TOKEN` as a bearer token when it is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import partial
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from api.auth import UNAUTHORIZED_HEADERS
from api.deps import Injected
from infrastructure.health import unready_reasons
from infrastructure.settings import Settings


class Operations:
    """What the operations endpoints read: this app's settings and metrics registry."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.registry = registry

    def check_metrics_token(self, header: str | None) -> None:
        """401 unless `MARID_METRICS_TOKEN` is unset or `header` bears it."""
        expected = self.settings.metrics_token
        if expected is None:
            return
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            raise NotAuthorizedException("Unauthorized", headers=UNAUTHORIZED_HEADERS)


# Why this process should not take traffic (empty: ready), given the largest lag allowed.
Readiness = Callable[[int], list[str]]


def provide_operations(request: Request[Any, Any, Any]) -> Operations:
    operations: Operations = request.app.state.operations
    return operations


def provide_readiness(state: State) -> Readiness:
    return partial(unready_reasons, state.marid)


class OperationsController(Controller):
    tags = ["operations"]
    dependencies = {
        "operations": Provide(provide_operations, sync_to_thread=False),
        "readiness": Provide(provide_readiness, sync_to_thread=False),
    }

    @get("/healthz", sync_to_thread=False, summary="Liveness: 200 while the process serves")
    def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/readyz",
        sync_to_thread=True,
        summary="Readiness: PostgreSQL answers and every read model is caught up (else 503)",
    )
    def readyz(
        self, readiness: Injected[Readiness], operations: Injected[Operations]
    ) -> Response[dict[str, Any]]:
        reasons = readiness(operations.settings.ready_max_lag)
        if reasons:
            return Response({"status": "unready", "reasons": reasons}, status_code=503)
        return Response({"status": "ready"}, status_code=200)

    @get(
        "/metrics",
        sync_to_thread=True,
        summary="Prometheus metrics (text format); MARID_METRICS_TOKEN as bearer when set",
    )
    def metrics(
        self, request: Request[Any, Any, Any], operations: Injected[Operations]
    ) -> Response[bytes]:
        operations.check_metrics_token(request.headers.get("authorization"))
        return Response(generate_latest(operations.registry), media_type=CONTENT_TYPE_LATEST)
