"""Use cases for the authorization-code flow (CONTRACT.md, djinn-api §15): check a
request, issue a code on consent, exchange it for a token, revoke a connection.

A user holds at most one token per app (`app_token` index): a new grant re-scopes it and
gives it a new value, since only its hash is kept (Djinn keeps the value; we cannot).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from eventsourcing.domain import Aggregate

from application.core import Outcome, command
from application.oauth_apps import OAuthAppCases, RegisteredApp
from domain.errors import NotFoundError
from domain.identity import aggregate_id
from domain.index import Index
from domain.oauth import (
    AuthorizationCode,
    OAuthApp,
    OAuthError,
    check_challenge,
)
from domain.origin import Origin
from domain.scopes import ScopeError, Scopes
from domain.tokens import Token, generate_token, hash_token
from domain.users import User

CODE_LIFETIME = timedelta(minutes=10)
APP_TOKEN_INDEX = "app_token"  # noqa: S105 (an index kind, not a secret)
BAD_CLIENT = "Failed to authenticate"


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked authorization request: the app to show on the consent page, the scopes
    asked for, and (for a signed-in user) what they already granted the app."""

    app_id: int
    client_id: str
    name: str
    description: str
    homepage_uri: str
    redirect_uri: str
    scopes: Scopes
    granted: Scopes | None  # the user's live grant to this app, if any
    code_challenge: str | None
    code_challenge_method: str | None

    @property
    def covered(self) -> bool:
        """Whether the existing grant covers the request (the consent page is skipped)."""
        return self.granted is not None and self.scopes.grants <= self.granted.grants

    @property
    def merged(self) -> Scopes:
        """What a consent grants: the request merged with the existing grant (Djinn)."""
        return Scopes(self.scopes.grants | (self.granted.grants if self.granted else frozenset()))


@dataclass(frozen=True)
class Exchanged:
    """The token a code was exchanged for: `access_token` is shown to the app once."""

    access_token: str
    scopes: str
    token_id: int
    user_id: int


def _code_hash(code: str) -> str:
    return hash_token(code)


def parse_scope(scope: str) -> Scopes:
    """A request's scope (space-delimited), or OAuthError(invalid_scope)."""
    try:
        return Scopes.parse(scope)
    except ScopeError as error:
        raise OAuthError("invalid_scope", str(error)) from None


class OAuthCases(OAuthAppCases):
    def authorization_request(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
        *,
        user_id: int | None = None,
    ) -> AuthorizationRequest:
        """Check an authorization request (GET and POST /login/oauth/authorize).

        OAuthError: invalid_request (400) without client_id, for an unknown app (404) or
        a redirect_uri other than the registered one (never redirect to it), or a PKCE
        challenge other than S256; invalid_scope (400) for a bad scope.
        """
        if not client_id:
            raise OAuthError("invalid_request", "No client ID in request")
        app = self.app_for_client(client_id)
        if app is None:
            raise OAuthError("invalid_request", "No app with this client ID", 404)
        if redirect_uri != app.redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri does not match")
        scopes = parse_scope(scope)
        check_challenge(code_challenge, code_challenge_method)
        granted = None if user_id is None else self._granted(user_id, app.public_id)
        return AuthorizationRequest(
            app_id=app.public_id,
            client_id=app.client_id,
            name=app.name,
            description=app.description,
            homepage_uri=app.homepage_uri,
            redirect_uri=app.redirect_uri,
            scopes=scopes,
            granted=granted,
            code_challenge=code_challenge or None,
            code_challenge_method=code_challenge_method or None,
        )

    def grant_covers(self, user_id: int, client_id: str, scope: str) -> bool:
        """Whether the user's live grant to the app already covers `scope` (skip consent);
        False for an unknown app or a bad scope."""
        app = self.app_for_client(client_id)
        try:
            wanted = Scopes.parse(scope)
        except ScopeError:
            return False
        granted = None if app is None else self._granted(user_id, app.public_id)
        return granted is not None and wanted.grants <= granted.grants

    def issue_code(
        self,
        user_id: int,
        client_id: str,
        scope: str,
        redirect_uri: str,
        code_challenge: str | None,
        code_challenge_method: str | None,
        origin: Origin,
    ) -> Outcome[str]:
        """The user consents: a code (32 hex, single use, valid CODE_LIFETIME) bound to
        the user, the app, the scope (merged with the existing grant), the redirect URI and
        the PKCE challenge. Raises as `authorization_request`; NotFoundError for a
        missing or disabled user."""
        user = self.get_user(user_id)
        if user.disabled:
            raise NotFoundError("user")
        request = self.authorization_request(
            client_id, redirect_uri, scope, code_challenge, code_challenge_method, user_id=user_id
        )
        code = secrets.token_hex(16)
        issued = AuthorizationCode(
            code_hash=_code_hash(code),
            user_id=user_id,
            app_id=request.app_id,
            scopes=str(request.merged),
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            expires_at=self.clock() + CODE_LIFETIME,
            origin=origin,
        )
        return Outcome(code, self.save(issued))

    @command
    def exchange_code(
        self,
        client_id: str,
        secret: str,
        code: str,
        redirect_uri: str | None,
        code_verifier: str | None,
        origin: Origin,
    ) -> Outcome[Exchanged]:
        """Exchange a code for the user's token for the app (POST /login/oauth/token).

        OAuthError: invalid_client (401) for an unknown client or a wrong secret;
        invalid_request (400) without a code; invalid_grant (400) for an unknown, used,
        expired or another app's code, another redirect_uri, a PKCE verifier that does
        not match, or a disabled user. The events record the user as the actor, with
        `origin`'s request id.
        """
        app = self.app_for_client(client_id)
        if app is None or not hmac.compare_digest(
            (secret or "").lower().encode(), self.secrets.open(app.secret).encode()
        ):
            raise OAuthError("invalid_client", BAD_CLIENT, 401)
        if not code:
            raise OAuthError("invalid_request", "code is required")
        grant = self.load(AuthorizationCode.create_id(_code_hash(code)), AuthorizationCode)
        if grant is None:
            raise OAuthError("invalid_grant", "Unknown code")
        grant.check(app.public_id, redirect_uri or None, code_verifier or None, self.clock())
        user = self.load(aggregate_id("user", grant.user_id), User)
        if user is None or user.disabled:
            raise OAuthError("invalid_grant", "The user cannot sign in")
        acting = Origin.user(grant.user_id, origin.request_id)
        access_token = generate_token()
        token, changed = self._grant_token(app, grant, hash_token(access_token), acting)
        grant.redeem(token.public_id, acting)
        exchanged = Exchanged(access_token, grant.scopes, token.public_id, grant.user_id)
        return Outcome(exchanged, self.save(grant, token, *changed))

    @command
    def revoke_connection(self, user_id: int, app_id: int, origin: Origin) -> Outcome[None]:
        """Revoke the user's token for an app they granted; NotFoundError when there is
        no live grant."""
        index = self.find_index(APP_TOKEN_INDEX, f"{app_id}:{user_id}")
        holder = None if index is None else index.holder
        token = None if holder is None else self.load(aggregate_id("token", holder), Token)
        if token is None or token.revoked or token.user_id != user_id:
            raise NotFoundError("connection")
        return Outcome(None, self.save(*self.revoking(token, origin)))

    # Helpers.

    def _granted(self, user_id: int, app_id: int) -> Scopes | None:
        token = self._app_token(user_id, app_id)
        return None if token is None else Scopes.parse(token.scopes)

    def _app_token(self, user_id: int, app_id: int) -> Token | None:
        holder = self.holder(APP_TOKEN_INDEX, f"{app_id}:{user_id}")
        token = None if holder is None else self.load(aggregate_id("token", holder), Token)
        return token if token is not None and token.live(self.clock()) else None

    def _grant_token(
        self, app: OAuthApp, grant: AuthorizationCode, token_hash: str, origin: Origin
    ) -> tuple[Token, list[Aggregate]]:
        """The user's token for the app with the code's scope and a new value: the live
        one updated, or a new one (claimed in the index, remembered by the app)."""
        name = f"client.{grant.user_id}"
        token = self._app_token(grant.user_id, app.public_id)
        if token is not None:
            token.update(name, grant.scopes, origin)
            token.regenerate(token_hash, origin)
            return token, []
        token_id = self.ids.next_id("token")
        token = Token(
            public_id=token_id,
            user_id=grant.user_id,
            name=name,
            token_hash=token_hash,
            scopes=grant.scopes,
            expires_at=None,
            origin=origin,
            app_id=app.public_id,
        )
        key = f"{app.public_id}:{grant.user_id}"
        index = self.find_index(APP_TOKEN_INDEX, key)
        if index is None:
            index = Index(kind=APP_TOKEN_INDEX, key=key, holder=token_id, origin=origin)
        else:
            if index.holder is not None:  # a token that expired, or was revoked unreleased
                index.release(index.holder, origin)
            index.claim(token_id, origin)
        app.token_issued(token_id, origin)
        return token, [index, app]


__all__ = ["AuthorizationRequest", "Exchanged", "OAuthCases", "OAuthError", "RegisteredApp"]
