"""OAuth apps and authorization codes (RFC 6749's authorization-code grant, RFC 7636 PKCE).

An app belongs to the user who registered it; its client secret is held sealed. An
authorization code is single use: it is an aggregate named by the hash of its value, so
two exchanges of one code collide on its version and only one wins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import InitVar
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.aggregates import Assigns, Deletable
from domain.errors import DomainError, Errors, NotFoundError
from domain.identity import MARID_NS
from domain.origin import Origin

NAME_MAX = 64
DESCRIPTION_MAX = 1000
URI_MAX = 2000
CLIENT_ID_RE = re.compile(r"[0-9a-f]{32}")
# RFC 7636 §4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
# The S256 challenge of a verifier: 32 bytes in base64url without padding.
CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")


class OAuthError(DomainError):
    """Raised when an OAuth request is refused: `error` is RFC 6749's code
    (`invalid_request`, `invalid_client`, `invalid_grant`, `invalid_scope`, ...), `status`
    the HTTP status the token endpoint answers with."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def uri_errors(uri: str, label: str) -> list[str]:
    """What is wrong with an app's homepage or redirect URI: required, absolute http(s)."""
    if not uri:
        return [f"{label} field required"]
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return [f"{label} must be an absolute http or https URL"]
    if parts.scheme not in ("http", "https") or not parts.hostname or len(uri) > URI_MAX:
        return [f"{label} must be an absolute http or https URL"]
    if parts.fragment or "#" in uri:
        return [f"{label} must not have a fragment"]
    return []


def app_errors(name: str, description: str, homepage_uri: str, redirect_uri: str) -> Errors:
    """Every broken rule of an app's fields (the name's uniqueness is checked apart)."""
    errors = Errors()
    if not name.strip():
        errors.add("name", "Name field required")
    elif len(name) > NAME_MAX:
        errors.add("name", f"Name must be between 1 and {NAME_MAX} characters in length")
    if len(description) > DESCRIPTION_MAX:
        errors.add("description", f"Description must be at most {DESCRIPTION_MAX} characters")
    errors.extend("homepage_uri", uri_errors(homepage_uri, "Homepage_uri"))
    errors.extend("redirect_uri", uri_errors(redirect_uri, "Redirect_uri"))
    return errors


class OAuthApp(Deletable):
    """A third-party application users may authorize; `secret` is sealed.

    `token_ids` are the tokens issued to it (some may have been revoked since), so that
    revoking every token of the app needs no read model.
    """

    KIND = "app"

    user_id: int
    client_id: str
    name: str
    description: str
    homepage_uri: str
    redirect_uri: str
    secret: str
    origin: InitVar[Origin]

    class Created(Deletable.Created):
        user_id: int
        client_id: str
        name: str
        description: str
        homepage_uri: str
        redirect_uri: str
        secret: str
        origin: Origin

    class Updated(Assigns):
        name: str
        description: str
        homepage_uri: str
        redirect_uri: str
        origin: Origin

    class SecretReset(Assigns):
        secret: str
        origin: Origin

    class TokenIssued(Aggregate.Event):
        token_id: int
        origin: Origin

    class TokensRevoked(Aggregate.Event):
        token_ids: list[int]
        origin: Origin

    class Deleted(Deletable.Deleted):
        public_id: int
        client_id: str
        origin: Origin

    def __post_init__(self, origin: Origin) -> None:
        self.token_ids: list[int] = []

    def update(
        self, name: str, description: str, homepage_uri: str, redirect_uri: str, origin: Origin
    ) -> None:
        """Record the app's new fields (validated by the caller, with the name's index)."""
        if self.deleted:
            raise NotFoundError("app")
        self.trigger_event(
            self.Updated,
            name=name,
            description=description,
            homepage_uri=homepage_uri,
            redirect_uri=redirect_uri,
            origin=origin,
        )

    def reset_secret(self, sealed: str, origin: Origin) -> None:
        if self.deleted:
            raise NotFoundError("app")
        self.trigger_event(self.SecretReset, secret=sealed, origin=origin)

    def token_issued(self, token_id: int, origin: Origin) -> None:
        """Remember a token newly issued to the app (a re-grant reuses its token)."""
        if token_id not in self.token_ids:
            self._token_issued(token_id=token_id, origin=origin)

    @event(TokenIssued)
    def _token_issued(self, token_id: int, origin: Origin) -> None:
        self.token_ids = [*self.token_ids, token_id]

    def tokens_revoked(self, origin: Origin) -> list[int]:
        """Forget the app's tokens (the caller revokes them); the ids they had."""
        revoked = list(self.token_ids)
        if revoked:
            self._tokens_revoked(token_ids=revoked, origin=origin)
        return revoked

    @event(TokensRevoked)
    def _tokens_revoked(self, token_ids: list[int], origin: Origin) -> None:
        self.token_ids = []

    def deletion_ids(self) -> dict[str, object]:
        return {"public_id": self.public_id, "client_id": self.client_id}


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_challenge(code_challenge: str | None, method: str | None) -> None:
    """Refuse a PKCE challenge other than a well-formed S256 one (`plain` included)."""
    if not code_challenge:
        if method:
            raise OAuthError("invalid_request", "code_challenge_method without code_challenge")
        return
    if (method or "plain") != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256")
    if not CHALLENGE_RE.fullmatch(code_challenge):
        raise OAuthError("invalid_request", "code_challenge must be 43 base64url characters")


class AuthorizationCode(Aggregate):
    """A code a user's consent gave an app: single use, short-lived, bound to the user,
    the app, the scope, the redirect URI and the PKCE challenge."""

    @staticmethod
    def create_id(code_hash: str) -> UUID:
        return uuid5(MARID_NS, f"oauth-code:{code_hash}")

    class Issued(Aggregate.Created):
        code_hash: str
        user_id: int
        app_id: int
        scopes: str
        redirect_uri: str
        code_challenge: str | None
        expires_at: datetime
        origin: Origin

    class Redeemed(Aggregate.Event):
        token_id: int
        origin: Origin

    @event(Issued)
    def __init__(
        self,
        code_hash: str,
        user_id: int,
        app_id: int,
        scopes: str,
        redirect_uri: str,
        code_challenge: str | None,
        expires_at: datetime,
        origin: Origin,
    ) -> None:
        self.user_id = user_id
        self.app_id = app_id
        self.scopes = scopes
        self.redirect_uri = redirect_uri
        self.code_challenge = code_challenge
        self.expires_at = expires_at
        self.token_id: int | None = None

    def check(
        self, app_id: int, redirect_uri: str | None, code_verifier: str | None, now: datetime
    ) -> None:
        """Raise OAuthError(invalid_grant) unless this code may be exchanged by this app,
        now, with this redirect URI and verifier."""
        if self.token_id is not None:
            raise OAuthError("invalid_grant", "The code was already used")
        if self.app_id != app_id:
            raise OAuthError("invalid_grant", "The code was not issued to this client")
        if now >= self.expires_at:
            raise OAuthError("invalid_grant", "The code expired")
        if redirect_uri is not None and redirect_uri != self.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match")
        if self.code_challenge is None:
            if code_verifier:  # RFC 9700 §2.1.1: no PKCE downgrade
                raise OAuthError("invalid_grant", "code_verifier sent for a code without PKCE")
            return
        if not code_verifier:
            raise OAuthError("invalid_grant", "code_verifier required")
        if not VERIFIER_RE.fullmatch(code_verifier) or not hmac.compare_digest(
            s256(code_verifier), self.code_challenge
        ):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")

    def redeem(self, token_id: int, origin: Origin) -> None:
        """Mark the code used, by the token it was exchanged for (check it first)."""
        self._redeemed(token_id=token_id, origin=origin)

    @event(Redeemed)
    def _redeemed(self, token_id: int, origin: Origin) -> None:
        self.token_id = token_id
