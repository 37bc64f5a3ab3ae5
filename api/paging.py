"""Paging of list endpoints: `page`/`per_page` in, `Link` and `X-Total-Count` out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from litestar import Request, Response

from api.render import api_base
from projections.rows import Page

R = TypeVar("R")
Out = TypeVar("Out")
Fetch = Callable[[int, int], tuple[list[R], Page]]

PER_PAGE = 25
MAX_PER_PAGE = 100
# Any page past the end is the last one; beyond this its offset would overflow a bigint.
MAX_PAGE = 2**31 - 1


def _positive(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value > 0 else default


def requested(request: Request[Any, Any, Any]) -> tuple[int, int]:
    """The requested page (missing or invalid: 1) and page size (1-100, default 25)."""
    page = min(_positive(request.query_params.get("page"), 1), MAX_PAGE)
    per_page = min(_positive(request.query_params.get("per_page"), PER_PAGE), MAX_PER_PAGE)
    return page, per_page


def headers(request: Request[Any, Any, Any], page: Page) -> dict[str, str]:
    """`Link` with prev/next (clamped to first/last), first and last; `X-Total-Count`."""
    path = request.scope.get("state", {}).get("original_path") or request.url.path
    params = sorted((k, v) for k, v in request.query_params.multi_items() if k != "page")

    def link(number: int, rel: str) -> str:
        query = urlencode([*params, ("page", str(number))])
        return f'<{path}?{query}>; rel="{rel}"'

    prev_page = max(page.number - 1, 1)
    next_page = min(page.number + 1, page.last)
    links = [
        link(prev_page, "prev"),
        link(next_page, "next"),
        link(1, "first"),
        link(page.last, "last"),
    ]
    return {"Link": ", ".join(links), "X-Total-Count": str(page.total)}


def paged(
    request: Request[Any, Any, Any], fetch: Fetch[R], render: Callable[[str, R], Out]
) -> Response[list[Out]]:
    """The requested page of rows (`fetch(page, per_page)`), rendered, with paging headers."""
    rows, at = fetch(*requested(request))
    base = api_base(request)
    return Response([render(base, row) for row in rows], headers=headers(request, at))
