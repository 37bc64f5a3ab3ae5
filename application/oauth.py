"""Use cases for OAuth apps and the authorization-code flow (CONTRACT.md, djinn-api §15).

An app's name is unique among its owner's apps (`app_name` index), its client id among
all apps (`client_id` index, which also finds the app from a request). The secret is
shown once and held sealed. A user holds at most one token per app (`app_token` index):
a new grant re-scopes it and gives it a new value, since only its hash is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from eventsourcing.domain import Aggregate

from application.accounts import AccountCases
from application.core import Outcome, command
from domain.errors import NotFoundError, ValidationError
from domain.identity import aggregate_id
from domain.index import Index, KeyTakenError
from domain.oauth import (
    CLIENT_ID_RE,
    AuthorizationCode,
    OAuthApp,
    OAuthError,
    app_errors,
    check_challenge,
)
from domain.origin import Origin
from domain.scopes import ScopeError, Scopes
from domain.tokens import Token, generate_token, hash_token
from domain.users import User

CODE_LIFETIME = timedelta(minutes=10)
APP_NAME_INDEX = "app_name"
CLIENT_ID_INDEX = "client_id"
APP_TOKEN_INDEX = "app_token"  # noqa: S105 (an index kind, not a secret)
NAME_TAKEN = "Name already exists"
BAD_CLIENT = "Failed to authenticate"


@dataclass(frozen=True)
class RegisteredApp:
    """A new app; `client_secret` (64 hex) is shown once and never again."""

    app_id: int
    client_id: str
    client_secret: str


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
    return hashlib.sha256(code.encode()).hexdigest()


def parse_scope(scope: str) -> Scopes:
    """A request's scope (space-delimited), or OAuthError(invalid_scope)."""
    try:
        return Scopes.parse(scope)
    except ScopeError as error:
        raise OAuthError("invalid_scope", str(error)) from None


class OAuthCases(AccountCases):
    # Apps.

    @command
    def register_app(
        self,
        user_id: int,
        name: str,
        description: str,
        homepage_uri: str,
        redirect_uri: str,
        origin: Origin,
    ) -> Outcome[RegisteredApp]:
        """Register an app: ValidationError with every broken field rule (a name the user
        already gave an app: "Name already exists")."""
        self.get_user(user_id)
        errors = app_errors(name, description, homepage_uri, redirect_uri)
        errors.raise_if_any()
        app_id = self.ids.next_id("app")
        client_id = secrets.token_hex(16)
        client_secret = secrets.token_hex(32)
        indexes = [
            self._claim_app_name(user_id, name, app_id, origin),
            Index(kind=CLIENT_ID_INDEX, key=client_id, holder=app_id, origin=origin),
        ]
        app = OAuthApp(
            public_id=app_id,
            user_id=user_id,
            client_id=client_id,
            name=name,
            description=description,
            homepage_uri=homepage_uri,
            redirect_uri=redirect_uri,
            secret=self.secrets.seal(client_secret),
            origin=origin,
        )
        return Outcome(RegisteredApp(app_id, client_id, client_secret), self.save(app, *indexes))

    @command
    def update_app(
        self,
        user_id: int,
        client_id: str,
        name: str,
        description: str,
        homepage_uri: str,
        redirect_uri: str,
        origin: Origin,
    ) -> Outcome[None]:
        """Change the user's app's fields (all of them); NotFoundError for anyone else's."""
        app = self.own_app(user_id, client_id)
        app_errors(name, description, homepage_uri, redirect_uri).raise_if_any()
        changed: list[Aggregate] = [app]
        if name.lower() != app.name.lower():
            changed.append(self._claim_app_name(user_id, name, app.public_id, origin))
            changed += self._release(APP_NAME_INDEX, f"{user_id}:{app.name.lower()}", app, origin)
        app.update(name, description, homepage_uri, redirect_uri, origin)
        return Outcome(None, self.save(*changed))

    @command
    def reset_app_secret(self, user_id: int, client_id: str, origin: Origin) -> Outcome[str]:
        """A new client secret for the user's app (returned once); the old one stops
        working. NotFoundError for anyone else's app."""
        app = self.own_app(user_id, client_id)
        client_secret = secrets.token_hex(32)
        app.reset_secret(self.secrets.seal(client_secret), origin)
        return Outcome(client_secret, self.save(app))

    @command
    def revoke_app_tokens(self, user_id: int, client_id: str, origin: Origin) -> Outcome[int]:
        """Revoke every token issued to the user's app; how many were live."""
        app = self.own_app(user_id, client_id)
        changed = self._revoke_all(app, origin)
        return Outcome(sum(isinstance(c, Token) for c in changed), self.save(app, *changed))

    @command
    def delete_app(self, user_id: int, client_id: str, origin: Origin) -> Outcome[None]:
        """Delete the user's app and revoke its tokens; its name and client id are freed."""
        app = self.own_app(user_id, client_id)
        changed = self._revoke_all(app, origin)
        app.delete(origin)
        changed += self._release(APP_NAME_INDEX, f"{user_id}:{app.name.lower()}", app, origin)
        changed += self._release(CLIENT_ID_INDEX, app.client_id, app, origin)
        return Outcome(None, self.save(app, *changed))

    def app_for_client(self, client_id: str) -> OAuthApp | None:
        """The live app with this client id (from the event store: never stale)."""
        if not CLIENT_ID_RE.fullmatch(client_id or ""):
            return None
        holder = self.holder(CLIENT_ID_INDEX, client_id)
        app = None if holder is None else self.load(aggregate_id("app", holder), OAuthApp)
        return None if app is None or app.deleted else app

    def own_app(self, user_id: int, client_id: str) -> OAuthApp:
        """The user's live app; NotFoundError for anyone else's."""
        app = self.app_for_client(client_id)
        if app is None or app.user_id != user_id:
            raise NotFoundError("app")
        return app

    # The flow.

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

    def _revoke_all(self, app: OAuthApp, origin: Origin) -> list[Aggregate]:
        changed: list[Aggregate] = []
        for token_id in app.tokens_revoked(origin):
            token = self.load(aggregate_id("token", token_id), Token)
            if token is not None:
                changed += self.revoking(token, origin)
        return changed

    def _claim_app_name(self, user_id: int, name: str, app_id: int, origin: Origin) -> Index:
        key = f"{user_id}:{name.lower()}"
        index = self.find_index(APP_NAME_INDEX, key)
        if index is None:
            return Index(kind=APP_NAME_INDEX, key=key, holder=app_id, origin=origin)
        try:
            index.claim(app_id, origin)
        except KeyTakenError:
            raise ValidationError({"name": [NAME_TAKEN]}) from None
        return index

    def _release(self, kind: str, key: str, app: OAuthApp, origin: Origin) -> list[Aggregate]:
        index = self.find_index(kind, key)
        if index is None or index.holder != app.public_id:
            return []
        index.release(app.public_id, origin)
        return [index]
