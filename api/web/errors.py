"""The pages' error table: the API's errors as readable HTML pages instead of JSON.

Handlers re-render their own form for bad input; what reaches this table is a failure
no form can show (a CSRF check, a missing page, a fault), or a visitor to sign in first.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from api.errors import EXCEPTION_HANDLERS, NOT_SETTLED, RETRY_AFTER_SECONDS
from api.web.pages import SignInRequiredError
from api.web.security import SECURITY_HEADERS
from domain.errors import (
    ConflictError,
    NamespacePermissionError,
    NotFoundError,
    RuleError,
    ValidationError,
)
from domain.oauth import OAuthError
from projections.read_models import NotSettledError

log = logging.getLogger("marid.web")

Req = Request[Any, Any, Any]

TITLES = {
    400: "The request was not understood",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "Changed meanwhile",
    413: "Request too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Try again shortly",
}
OAUTH_REFUSED = "The application that sent you here made a request marid cannot accept:"
MESSAGES = {
    404: "There is nothing here, or it is not yours to see.",
    405: "This page does not accept that kind of request.",
    413: "The form sent was too large.",
}


def error_page(
    request: Req, status: int, message: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    """A readable page for a failure, with the pages' security headers."""
    engine: Any = request.app.template_engine  # the app's, configured by template_config()
    html = engine.get_template("error.html").render(
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
        user=None,
        flashes=[],
    )
    return Response(
        html,
        status_code=status,
        media_type="text/html",
        headers={**(headers or {}), **SECURITY_HEADERS},
    )


def page_error(request: Req, exc: Exception) -> Response[Any]:
    """The page for any failure (status codes as the API's error table)."""
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        message = MESSAGES.get(exc.status_code) or exc.detail
        retry = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "retry-after"}
        return error_page(request, exc.status_code, message, retry)
    if isinstance(exc, OAuthError):  # a client's bad authorization request
        return error_page(request, exc.status, f"{OAUTH_REFUSED} {exc.description}.")
    if isinstance(exc, ValidationError):
        lines = [f"{field}: {', '.join(messages)}" for field, messages in exc.fields.items()]
        return error_page(request, 400, "; ".join(lines))
    if isinstance(exc, RuleError | NamespacePermissionError):
        return error_page(request, 400, exc.message)
    if isinstance(exc, NotFoundError):
        return error_page(request, 404, MESSAGES[404])
    if isinstance(exc, ConflictError):
        return error_page(request, 409, exc.message)
    if isinstance(exc, NotSettledError):
        return error_page(request, 503, NOT_SETTLED, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    request_id = request.scope.get("state", {}).get("request_id")
    log.exception(
        "unhandled error in %s %s (request %s)", request.method, request.url.path, request_id
    )
    return error_page(request, 500, f"The server failed to answer (request {request_id}).")


def sign_in_first(request: Req, exc: SignInRequiredError) -> Response[Any]:
    target = "/login?redirect_uri=" + quote(exc.back_to, safe="")
    return Redirect(target, status_code=303, headers=SECURITY_HEADERS, cookies=exc.cookies)


# Every key of the API's table, so that nothing falls through to a JSON answer.
PAGE_EXCEPTION_HANDLERS: dict[Any, Any] = {
    **{kind: page_error for kind in EXCEPTION_HANDLERS},
    OAuthError: page_error,
    SignInRequiredError: sign_in_first,
}
