"""The audit log for administrators: `GET /api/audit`, newest first, filtered and paged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException

from api import paging
from api.auth import Caller
from api.deps import Injected
from api.render import api_base
from api.schemas.audit import AuditEventOut
from infrastructure.audit import Audit
from projections.rows import Page
from projections.user_queries import UserQueries

Req = Request[Any, Any, Any]


def provide_audit(request: Req, state: State) -> Audit:
    """The event log read through the application (it loads aggregates to name things)."""
    return Audit(state.marid.app, api_base(request))


class AuditController(Controller):
    tags = ["audit"]
    dependencies = {"audit": Provide(provide_audit, sync_to_thread=False)}

    @get("/api/audit", sync_to_thread=True, summary="The event log (administrators only)")
    def list_events(
        self,
        request: Req,
        caller: Injected[Caller],
        users: Injected[UserQueries],
        clock: Injected[Callable[[], datetime]],
        audit: Injected[Audit],
    ) -> Response[list[AuditEventOut]]:
        user = caller.signed_in()
        if not users.is_admin(user.id):
            raise NotFoundException()  # the audit is not even there for others
        f = audit.filter(request.query_params, clock())
        page, per_page = paging.requested(request)
        at = Page.clamp(page, per_page, audit.log.count_matching(f))
        entries = audit.entries(audit.log.newest(f, per_page, at.offset))
        items = [msgspec.convert(e.as_dict(), AuditEventOut) for e in entries]
        return Response(items, headers=paging.headers(request, at))
