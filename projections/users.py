"""The users read model: users and their tokens (looked up by hash on every request)."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.tokens import Token
from domain.users import User
from projections.base import View


class UsersView(View):
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


class UsersProjection(Projection[UsersView]):
    name = "users"
    topics = tuple(get_topic(cls) for cls in (User.Registered, Token.Created, Token.Revoked))

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def user_registered(self, event: User.Registered, tracking: Tracking) -> None:
        sql = f"INSERT INTO {self.view.t('users')} VALUES (%s, %s, %s, %s, %s)"
        values = (event.public_id, event.username, event.email, event.timestamp, event.admin)
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def token_created(self, event: Token.Created, tracking: Tracking) -> None:
        sql = f"INSERT INTO {self.view.t('tokens')} VALUES (%s, %s, %s, %s, %s, %s, %s, false, %s)"
        values = (
            event.public_id,
            event.originator_id,
            event.user_id,
            event.name,
            event.token_hash,
            event.scopes,
            event.expires_at,
            event.timestamp,
        )
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def token_revoked(self, event: Token.Revoked, tracking: Tracking) -> None:
        sql = f"UPDATE {self.view.t('tokens')} SET revoked = true WHERE aggregate_id = %s"
        self.view.write(tracking, lambda c: c.execute(sql, (event.originator_id,)))
