"""The users read model: users and their tokens (looked up by hash on every request)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import Tracking

from domain.tokens import Token
from domain.users import User
from projections.base import ReadModel, View
from projections.handling import ReadModelProjection, created_row, handlers


class UsersTables(ReadModel):
    projection_name = "users"
    tables = {
        "users": "(id bigint PRIMARY KEY, username text NOT NULL, email text NOT NULL, "
        "created_at timestamptz NOT NULL, admin boolean NOT NULL DEFAULT false)",
        "tokens": "(id bigint PRIMARY KEY, aggregate_id uuid NOT NULL, "
        "user_id bigint NOT NULL, name text NOT NULL, "
        "token_hash text NOT NULL, scopes text NOT NULL, expires_at timestamptz, "
        "revoked boolean NOT NULL, created_at timestamptz NOT NULL)",
    }
    indexes = {
        "users_username_idx": ("users", "UNIQUE", "(lower(username))"),
        "tokens_hash_idx": ("tokens", "UNIQUE", "(token_hash)"),
        "tokens_user_idx": ("tokens", "", "(user_id)"),
        "tokens_aggregate_idx": ("tokens", "UNIQUE", "(aggregate_id)"),
    }

    def add_user(self, row: Mapping[str, Any], tracking: Tracking) -> None:
        self._insert(tracking, "users", row)

    def add_token(self, row: Mapping[str, Any], tracking: Tracking) -> None:
        """A new token, not revoked."""
        self._insert(tracking, "tokens", {**row, "revoked": False})

    def revoke_token(self, aggregate_id: Any, tracking: Tracking) -> None:
        self._update(tracking, "tokens", {"revoked": True}, aggregate_id=aggregate_id)


class UsersView(UsersTables, View):
    """The users read model in PostgreSQL."""


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
    def token_created(self, event: Token.Created, tracking: Tracking) -> None:
        row = created_row(event, "user_id", "name", "token_hash", "scopes", "expires_at")
        self.view.add_token(row, tracking)

    @process_event.register
    def token_revoked(self, event: Token.Revoked, tracking: Tracking) -> None:
        self.view.revoke_token(event.originator_id, tracking)
