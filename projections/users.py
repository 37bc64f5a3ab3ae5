"""The users read model: users, their tokens (looked up by hash on every request) and
their OAuth apps.

Beside it, not rebuilt from events: `marid_token_usage`, when each token was last used
(operational data written by authentication, see `projections.user_queries`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL

from domain.oauth import OAuthApp
from domain.tokens import Token
from domain.users import User
from projections.base import ReadModel, View
from projections.handling import ReadModelProjection, created_row, handlers

USAGE_TABLE = "marid_token_usage"


class UsersTables(ReadModel):
    projection_name = "users"
    tables = {
        "users": "(id bigint PRIMARY KEY, username text NOT NULL, email text NOT NULL, "
        "created_at timestamptz NOT NULL, admin boolean NOT NULL DEFAULT false, "
        "disabled boolean NOT NULL DEFAULT false)",
        "tokens": "(id bigint PRIMARY KEY, aggregate_id uuid NOT NULL, "
        "user_id bigint NOT NULL, name text NOT NULL, "
        "token_hash text NOT NULL, scopes text NOT NULL, expires_at timestamptz, "
        "revoked boolean NOT NULL, created_at timestamptz NOT NULL, app_id bigint)",
        "apps": "(id bigint PRIMARY KEY, aggregate_id uuid NOT NULL, user_id bigint NOT NULL, "
        "client_id text NOT NULL, name text NOT NULL, description text NOT NULL, "
        "homepage_uri text NOT NULL, redirect_uri text NOT NULL, "
        "created_at timestamptz NOT NULL)",
    }
    indexes = {
        "users_username_idx": ("users", "UNIQUE", "(lower(username))"),
        "tokens_hash_idx": ("tokens", "UNIQUE", "(token_hash)"),
        "tokens_user_idx": ("tokens", "", "(user_id)"),
        "tokens_aggregate_idx": ("tokens", "UNIQUE", "(aggregate_id)"),
        "apps_client_idx": ("apps", "UNIQUE", "(client_id)"),
        "apps_user_idx": ("apps", "", "(user_id)"),
        "apps_aggregate_idx": ("apps", "UNIQUE", "(aggregate_id)"),
    }

    def add_user(self, row: Mapping[str, Any], tracking: Tracking) -> None:
        self._insert(tracking, "users", row)

    def set_disabled(self, user_id: int, disabled: bool, tracking: Tracking) -> None:
        self._update(tracking, "users", {"disabled": disabled}, id=user_id)

    def add_token(self, row: Mapping[str, Any], tracking: Tracking) -> None:
        """A new token, not revoked."""
        self._insert(tracking, "tokens", {**row, "revoked": False})

    def update_token(
        self, aggregate_id: Any, values: Mapping[str, Any], tracking: Tracking
    ) -> None:
        self._update(tracking, "tokens", values, aggregate_id=aggregate_id)

    def revoke_token(self, aggregate_id: Any, tracking: Tracking) -> None:
        self._update(tracking, "tokens", {"revoked": True}, aggregate_id=aggregate_id)

    def add_app(self, row: Mapping[str, Any], tracking: Tracking) -> None:
        self._insert(tracking, "apps", row)

    def update_app(self, aggregate_id: Any, values: Mapping[str, Any], tracking: Tracking) -> None:
        self._update(tracking, "apps", values, aggregate_id=aggregate_id)

    def remove_app(self, aggregate_id: Any, tracking: Tracking) -> None:
        self._delete(tracking, "apps", aggregate_id=aggregate_id)


class UsersView(UsersTables, View):
    """The users read model in PostgreSQL, and the token usage table beside it."""

    def __init__(self, datastore: PostgresDatastore, suffix: str = "", **kwargs: Any) -> None:
        super().__init__(datastore, suffix, **kwargs)
        self.sql_create_statements.append(
            SQL(
                f"CREATE TABLE IF NOT EXISTS {USAGE_TABLE} "
                "(token_id bigint PRIMARY KEY, last_used_at timestamptz NOT NULL)"
            ).format()
        )


class UsersProjection(ReadModelProjection[UsersTables]):
    name = "users"
    process_event = handlers()

    @process_event.register
    def user_registered(self, event: User.Registered, tracking: Tracking) -> None:
        row = {
            "id": event.public_id,
            "username": event.username,
            "email": event.email,
            "created_at": event.timestamp,
            "admin": event.admin,
        }
        self.view.add_user(row, tracking)

    @process_event.register
    def user_disabled(self, event: User.Disabled, tracking: Tracking) -> None:
        self.view.set_disabled(event.public_id, True, tracking)

    @process_event.register
    def user_enabled(self, event: User.Enabled, tracking: Tracking) -> None:
        self.view.set_disabled(event.public_id, False, tracking)

    @process_event.register
    def token_created(self, event: Token.Created, tracking: Tracking) -> None:
        columns = ("user_id", "name", "token_hash", "scopes", "expires_at", "app_id")
        self.view.add_token(created_row(event, *columns), tracking)

    @process_event.register
    def token_updated(self, event: Token.Updated, tracking: Tracking) -> None:
        values = {"name": event.name, "scopes": event.scopes}
        self.view.update_token(event.originator_id, values, tracking)

    @process_event.register
    def token_regenerated(self, event: Token.Regenerated, tracking: Tracking) -> None:
        values = {"token_hash": event.token_hash}
        self.view.update_token(event.originator_id, values, tracking)

    @process_event.register
    def token_revoked(self, event: Token.Revoked, tracking: Tracking) -> None:
        self.view.revoke_token(event.originator_id, tracking)

    @process_event.register
    def app_created(self, event: OAuthApp.Created, tracking: Tracking) -> None:
        columns = ("user_id", "client_id", "name", "description", "homepage_uri", "redirect_uri")
        self.view.add_app(created_row(event, *columns), tracking)

    @process_event.register
    def app_updated(self, event: OAuthApp.Updated, tracking: Tracking) -> None:
        values = {
            "name": event.name,
            "description": event.description,
            "homepage_uri": event.homepage_uri,
            "redirect_uri": event.redirect_uri,
        }
        self.view.update_app(event.originator_id, values, tracking)

    @process_event.register
    def app_deleted(self, event: OAuthApp.Deleted, tracking: Tracking) -> None:
        self.view.remove_app(event.originator_id, tracking)
