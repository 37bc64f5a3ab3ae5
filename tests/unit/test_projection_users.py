"""The users projection on its in-memory view: users and their tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.index import Index
from domain.tokens import Token
from domain.users import User
from projections.memory import in_memory
from projections.users import UsersProjection, UsersTables
from tests.unit.projection_support import APP, ORIGIN, feed

EXPIRES = datetime(2031, 1, 1, tzinfo=UTC)


def token() -> Token:
    return Token(
        public_id=7,
        user_id=1,
        name="ci",
        token_hash="hash",
        scopes="build:read",
        expires_at=EXPIRES,
        origin=ORIGIN,
    )


def test_registered_user_and_revoked_token_are_rows() -> None:
    view = in_memory(UsersTables)
    user = User(public_id=1, username="Alice", email="alice@example.com", origin=ORIGIN)
    admin = User(public_id=2, username="root", email="r@example.com", admin=True, origin=ORIGIN)
    ci = token()
    ci.revoke(ORIGIN)

    feed(UsersProjection(view=view), [*user.collect_events(), *admin.collect_events()])
    feed(UsersProjection(view=view), ci.collect_events(), first=3)

    assert view.rows("users") == [
        {
            "id": 1,
            "username": "Alice",
            "email": "alice@example.com",
            "created_at": user.created_on,
            "admin": False,
            "disabled": False,
        },
        {
            "id": 2,
            "username": "root",
            "email": "r@example.com",
            "created_at": admin.created_on,
            "admin": True,
            "disabled": False,
        },
    ]
    assert view.rows("tokens") == [
        {
            "id": 7,
            "aggregate_id": ci.id,
            "user_id": 1,
            "name": "ci",
            "token_hash": "hash",
            "scopes": "build:read",
            "expires_at": EXPIRES,
            "revoked": True,
            "created_at": ci.created_on,
            "app_id": None,
        }
    ]
    assert view.max_tracking_id(APP) == 4


def test_reapplying_a_tracked_notification_changes_nothing() -> None:
    view = in_memory(UsersTables)
    projection = UsersProjection(view=view)
    ci = token()
    created = ci.collect_events()
    ci.revoke(ORIGIN)
    revoked = ci.collect_events()
    feed(projection, created, first=5)

    feed(projection, created, first=5)
    feed(projection, revoked, first=4)
    feed(projection, revoked, first=5)

    assert [row["revoked"] for row in view.rows("tokens")] == [False]
    assert view.max_tracking_id(APP) == 5


def test_next_notification_applies_after_a_repeated_one() -> None:
    view = in_memory(UsersTables)
    projection = UsersProjection(view=view)
    alice = User(public_id=1, username="alice", email="alice@example.com", origin=ORIGIN)
    bob = User(public_id=2, username="bob", email="bob@example.com", origin=ORIGIN)
    registered = alice.collect_events()
    feed(projection, registered, first=1)
    feed(projection, registered, first=1)

    feed(projection, bob.collect_events(), first=2)

    assert [row["username"] for row in view.rows("users")] == ["alice", "bob"]


def test_events_without_a_handler_only_advance_tracking() -> None:
    view = in_memory(UsersTables)
    index = Index(kind="username", key="alice", holder=1, origin=ORIGIN)

    feed(UsersProjection(view=view), index.collect_events(), first=4)

    assert view.rows("users") == []
    assert view.max_tracking_id(APP) == 4
