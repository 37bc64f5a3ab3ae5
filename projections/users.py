"""The users read model: users and their tokens (looked up by hash on every request)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.tokens import Token
from domain.users import User
from projections.base import ReadModel, View


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


class UsersProjection(Projection[UsersTables]):
    name = "users"
    topics = tuple(get_topic(cls) for cls in (User.Registered, Token.Created, Token.Revoked))

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

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
        row = {
            "id": event.public_id,
            "aggregate_id": event.originator_id,
            "user_id": event.user_id,
            "name": event.name,
            "token_hash": event.token_hash,
            "scopes": event.scopes,
            "expires_at": event.expires_at,
            "created_at": event.timestamp,
        }
        self.view.add_token(row, tracking)

    @process_event.register
    def token_revoked(self, event: Token.Revoked, tracking: Tracking) -> None:
        self.view.revoke_token(event.originator_id, tracking)
