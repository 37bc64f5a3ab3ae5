"""The endpoints programs call: `POST /login/oauth/token` exchanges a code for a token,
`POST /logout/oauth/revoke` deletes the bearer token it is sent.

These answer programs, not browsers: no session, no CSRF token (the client authenticates
itself), and errors in RFC 6749's JSON (`{"error", "error_description"}`), never an
HTML page.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus, urlencode

from litestar import Controller, Request, Response, post
from litestar.exceptions import HTTPException

from api.deps import Injected, Settle
from api.errors import NOT_SETTLED
from api.web.errors import PAGE_EXCEPTION_HANDLERS
from api.web.pages import FormBody
from application.oauth import OAuthCases
from domain.errors import ValidationError
from domain.oauth import OAuthError
from domain.origin import Origin
from infrastructure.tokens import hash_token
from projections.read_models import NotSettledError
from projections.user_queries import UserQueries

log = logging.getLogger("marid.web")

Req = Request[Any, Any, Any]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
NUL = "\x00"


def oauth_error(request: Req, exc: Exception) -> Response[Any]:
    """RFC 6749 §5.2: `{"error", "error_description"}`; 401 invalid_client asks for Basic."""
    if isinstance(exc, OAuthError):
        error, description, status = exc.error, exc.description, exc.status
    elif isinstance(exc, ValidationError):
        error, description, status = "invalid_request", str(exc), 400
    elif isinstance(exc, NotSettledError):  # the token is saved but not yet readable
        error, description, status = "temporarily_unavailable", NOT_SETTLED, 503
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        error, description, status = "invalid_request", str(exc.detail), exc.status_code
    else:  # a fault: logged with its request id
        request_id = request.scope.get("state", {}).get("request_id")
        log.exception("unhandled error in %s (request %s)", request.url.path, request_id)
        error, description, status = "server_error", f"request {request_id}", 500
    headers = dict(NO_STORE)
    if error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="marid"'
    elif error == "invalid_token":  # RFC 6750 §3
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    body = {"error": error, "error_description": description}
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def client_credentials(request: Req, fields: dict[str, str]) -> tuple[str, str]:
    """The client id and secret: HTTP Basic when sent (RFC 6749 §2.3.1), else the form's
    `client_id` and `secret` (Djinn) or `client_secret` (the standard)."""
    header = request.headers.get("authorization")
    if header is None:
        return fields.get("client_id", ""), fields.get("secret") or fields.get("client_secret", "")
    scheme, _, encoded = header.strip().partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if scheme.lower() != "basic" or ":" not in decoded:
        raise OAuthError("invalid_client", "Authorization must be HTTP Basic client_id:secret", 401)
    client_id, _, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if fields.get("client_id") and fields["client_id"] != client_id:
        raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
    return client_id, secret


def answer(body: dict[str, str], request: Req) -> Response[Any]:
    """JSON when the client accepts it, else form-encoded (as Djinn and GitHub answer)."""
    if "json" in request.headers.get("accept", "").lower():
        return Response(body, headers=NO_STORE, media_type="application/json")
    encoded = urlencode(sorted(body.items()))
    return Response(encoded, headers=NO_STORE, media_type="application/x-www-form-urlencoded")


def form_fields(data: dict[str, Any]) -> dict[str, str]:
    """The form's fields; each may be sent once (RFC 6749 §3.2), without NUL characters."""
    repeated = sorted(k for k, v in data.items() if not isinstance(v, str))
    if repeated:
        raise OAuthError(
            "invalid_request", f"Parameters sent more than once: {', '.join(repeated)}"
        )
    if any(NUL in k or NUL in v for k, v in data.items()):
        raise OAuthError("invalid_request", "Parameters cannot contain NUL characters")
    return dict(data)


class OAuthTokenController(Controller):
    exception_handlers = {kind: oauth_error for kind in PAGE_EXCEPTION_HANDLERS}

    @post(
        "/login/oauth/token",
        status_code=200,
        sync_to_thread=True,
        summary="Exchange a code for a token",
    )
    def exchange(
        self,
        request: Req,
        data: FormBody,
        accounts: Injected[OAuthCases],
        settle: Injected[Settle],
    ) -> Response[Any]:
        fields = form_fields(data)
        grant_type = fields.get("grant_type", "authorization_code")  # Djinn sends none
        if grant_type != "authorization_code":
            raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code")
        client_id, secret = client_credentials(request, fields)
        request_id = request.scope.get("state", {}).get("request_id")
        exchanged = settle(
            accounts.exchange_code(
                client_id,
                secret,
                fields.get("code", ""),
                fields.get("redirect_uri") or None,
                fields.get("code_verifier") or None,
                Origin("system:oauth", request_id),
            )
        )
        body = {"access_token": exchanged.access_token, "token_type": "bearer"}
        return answer({**body, "scope": exchanged.scopes}, request)

    @post("/logout/oauth/revoke", status_code=204, sync_to_thread=True, summary="Revoke a token")
    def revoke(
        self,
        request: Req,
        accounts: Injected[OAuthCases],
        users: Injected[UserQueries],
        settle: Injected[Settle],
        clock: Injected[Callable[[], datetime]],
    ) -> Response[None]:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        found = users.authenticate(hash_token(token.strip()), clock()) if token.strip() else None
        if scheme.lower() != "bearer" or found is None:
            raise OAuthError("invalid_token", "A live bearer token is required", 401)
        user, row = found
        request_id = request.scope.get("state", {}).get("request_id")
        settle(accounts.revoke_token(row.id, Origin.user(user.id, request_id), user_id=user.id))
        return Response(None, status_code=204, headers=NO_STORE)
