"""The authorization request of the code flow: `GET|POST /login/oauth/authorize`.

The request is checked before anything else: without a client id, for an unknown app, a
redirect URI other than the app's registered one, a bad scope or PKCE challenge, the
visitor sees an error page and is never redirected (an unregistered URI could be anyone's).
A visitor not signed in signs in first and comes back here. A signed-in user whose grant
to the app already covers the scope is sent back with a code at once; anyone else is
shown the consent page, whose Approve issues a code and whose Deny answers
`error=access_denied`, both by a 303 to the redirect URI with the request's `state`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect

from api.deps import Injected, Settle
from api.render import origin
from api.web.pages import Form, Visit
from api.web.scope_words import described
from api.web.security import SECURITY_HEADERS
from application.oauth import AuthorizationRequest, OAuthCases
from domain.oauth import OAuthError

Req = Request[Any, Any, Any]
AUTHORIZE = "/login/oauth/authorize"
PARAMS = ("client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")


def with_params(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` added to its query (`?` or `&` as it already has one or not)."""
    parts = urlsplit(uri)
    added = urlencode({k: v for k, v in params.items() if v})
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def back_to_client(uri: str, **params: str) -> Redirect:
    """303 to the (checked, registered) redirect URI of the app."""
    return Redirect(with_params(uri, params), status_code=303, headers=SECURITY_HEADERS)


def sign_in_first(params: dict[str, str]) -> Redirect:
    here = f"{AUTHORIZE}?{urlencode({k: v for k, v in params.items() if v})}"
    target = "/login?redirect_uri=" + quote(here, safe="")
    return Redirect(target, status_code=303, headers=SECURITY_HEADERS)


def check(
    accounts: OAuthCases, params: dict[str, str], user_id: int | None
) -> AuthorizationRequest:
    """The request checked (OAuthError: an error page); only `response_type=code` is
    known (Djinn's clients send none)."""
    response_type = params.get("response_type", "")
    if response_type not in ("", "code"):
        raise OAuthError("unsupported_response_type", "response_type must be code")
    return accounts.authorization_request(
        params["client_id"],
        params["redirect_uri"],
        params["scope"],
        params["code_challenge"] or None,
        params["code_challenge_method"] or None,
        user_id=user_id,
    )


def issue(
    request: Req,
    accounts: OAuthCases,
    settle: Settle,
    user_id: int,
    asked: AuthorizationRequest,
    state: str,
) -> Redirect:
    code = settle(
        accounts.issue_code(
            user_id,
            asked.client_id,
            str(asked.scopes),
            asked.redirect_uri,
            asked.code_challenge,
            asked.code_challenge_method,
            origin(request, user_id),
        )
    )
    return back_to_client(asked.redirect_uri, code=code, state=state)


class AuthorizeController(Controller):
    @get(AUTHORIZE, sync_to_thread=True, summary="Ask a user to authorize an app")
    def authorize_page(
        self,
        request: Req,
        visit: Injected[Visit],
        accounts: Injected[OAuthCases],
        settle: Injected[Settle],
    ) -> Response[Any]:
        query = request.query_params
        params = {name: str(query.get(name, "")) for name in (*PARAMS, "response_type")}
        user = visit.user
        asked = check(accounts, params, None if user is None else user.id)
        if user is None:
            return sign_in_first(params)
        if asked.covered:  # the user granted this app as much already
            return issue(request, accounts, settle, user.id, asked, params["state"])
        return visit.render(
            "authorize.html",
            app=asked,
            scope=str(asked.scopes),
            scope_words=described(asked.merged),
            redirect_uri=asked.redirect_uri,
            redirect_host=urlsplit(asked.redirect_uri).netloc,
            state=params["state"],
            code_challenge=asked.code_challenge or "",
            code_challenge_method=asked.code_challenge_method or "",
        )

    @post(AUTHORIZE, sync_to_thread=True, summary="Approve or deny an app's request")
    def decide(
        self,
        request: Req,
        visit: Injected[Visit],
        form: Injected[Form],
        accounts: Injected[OAuthCases],
        settle: Injected[Settle],
    ) -> Redirect:
        params = {name: form.get(name) for name in (*PARAMS, "response_type")}
        user = visit.user
        asked = check(accounts, params, None if user is None else user.id)
        if user is None:
            return sign_in_first(params)
        if form.get("decision") != "approve":
            return back_to_client(asked.redirect_uri, error="access_denied", state=params["state"])
        return issue(request, accounts, settle, user.id, asked, params["state"])
