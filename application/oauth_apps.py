"""Use cases for OAuth apps: register, change, reset the secret, revoke tokens, delete.

An app's name is unique among its owner's apps (`app_name` index), its client id among
all apps (`client_id` index, which also finds the app from a request). The secret is
shown once and held sealed, like webhook secrets. The app remembers the tokens issued to
it, so revoking them all needs no read model.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from eventsourcing.domain import Aggregate

from application.accounts import AccountCases
from application.core import Outcome, command
from domain.errors import NotFoundError, ValidationError
from domain.identity import aggregate_id
from domain.index import Index, KeyTakenError
from domain.oauth import CLIENT_ID_RE, OAuthApp, app_errors
from domain.origin import Origin
from domain.tokens import Token

APP_NAME_INDEX = "app_name"
CLIENT_ID_INDEX = "client_id"
NAME_TAKEN = "Name already exists"


@dataclass(frozen=True)
class RegisteredApp:
    """A new app; `client_secret` (64 hex) is shown once and never again."""

    app_id: int
    client_id: str
    client_secret: str


class OAuthAppCases(AccountCases):
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
