"""Bearer authentication and scope checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from domain.origin import Origin
from domain.scopes import Scopes
from infrastructure.tokens import hash_token
from projections.rows import UserRow

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
INVALID_TOKEN_HEADERS = UNAUTHORIZED_HEADERS  # CONTRACT: 401 carries `WWW-Authenticate: Bearer`
CALLER_DEPENDENCIES = frozenset({"caller", "actor"})
# `opt` keys of guards that find what a route addresses, as the caller may see it.
FINDERS = frozenset({"namespace", "resource", "build"})


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user with the token's scopes, or an anonymous caller."""

    user: UserRow | None
    scopes: Scopes

    @property
    def id(self) -> int | None:
        return None if self.user is None else self.user.id

    def can(self, resource: str, permission: str) -> bool:
        return self.user is not None and self.scopes.has(resource, permission)

    def signed_in(self) -> UserRow:
        """The user; 401 for an anonymous caller."""
        if self.user is None:
            raise NotAuthorizedException("Unauthorized", headers=UNAUTHORIZED_HEADERS)
        return self.user

    def require(self, resource: str, permission: str) -> UserRow:
        """The user, if signed in (else 401) with the scope `resource:permission` (else 403)."""
        user = self.signed_in()
        if not self.scopes.has(resource, permission):
            raise scope_error(resource, permission)
        return user


@dataclass(frozen=True)
class Actor:
    """The signed-in user a write acts for, and the origin its events record."""

    id: int
    origin: Origin


def scope_error(resource: str, permission: str) -> PermissionDeniedException:
    scope = f"{resource}:{permission}"
    return PermissionDeniedException(
        f"Token lacks the {scope} scope",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: authenticate before the body is read, so that 401 comes before 400.

    Only handlers that ask for the `caller` (or `actor`), or whose guards need it (`opt` naming a
    namespace, resource or build to find), are guarded. Writes need a token; a read
    without one is anonymous. A handler may declare its scope as `opt={"scope": "r:p"}`
    to have it checked here too, so that 403 also comes before 400. The caller is kept
    in the scope for `provide_caller`.
    """
    asks = CALLER_DEPENDENCIES & handler.parsed_fn_signature.parameters.keys()
    if not asks and not FINDERS & handler.opt.keys():
        return
    caller = await anyio.to_thread.run_sync(identify, connection)  # a database lookup
    if caller.user is None and connection.scope.get("method") not in SAFE_METHODS:
        raise NotAuthorizedException("Unauthorized", headers=UNAUTHORIZED_HEADERS)
    required = handler.opt.get("scope")
    if required is not None:
        resource, _, permission = str(required).partition(":")
        caller.require(resource, permission)
    connection.scope["state"]["caller"] = caller


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """The caller that the `authenticate` guard found."""
    caller: Caller = request.scope["state"]["caller"]
    return caller


def identify(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """Who is calling; no header is anonymous, a bad, expired or revoked token is 401."""
    header = connection.headers.get("authorization")
    if header is None:
        return Caller(None, Scopes.none())
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("Unauthorized", headers=INVALID_TOKEN_HEADERS)
    marid = connection.app.state.marid
    found = marid.users.authenticate(hash_token(token.strip()), marid.clock())
    if found is None:
        raise NotAuthorizedException("Unauthorized", headers=INVALID_TOKEN_HEADERS)
    user, token_row = found
    return Caller(user, Scopes.parse(token_row.scopes) if token_row.scopes else Scopes.none())
