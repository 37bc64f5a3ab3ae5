"""User and token use cases on the in-memory event store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.app import MaridApplication
from domain.errors import NotFoundError, ValidationError
from domain.index import Index
from domain.origin import Origin
from domain.scopes import Scopes
from domain.tokens import Token
from domain.users import User
from tests.unit.conftest import ORIGIN, event_count, events_after, register


def test_registered_users_get_increasing_ids(app: MaridApplication) -> None:
    first = register(app, "alice")
    second = register(app, "bob")

    assert second > first
    assert app.get_user(first).username == "alice"
    assert app.get_user(second).email == "bob@example.com"


def test_username_is_unique_regardless_of_case(app: MaridApplication) -> None:
    register(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.register_user("ALICE", "other@example.com", ORIGIN)

    assert caught.value.fields == {"username": ["Username already exists"]}


def test_email_is_unique_regardless_of_case(app: MaridApplication) -> None:
    register(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.register_user("alice2", "Alice@Example.COM", ORIGIN)

    assert caught.value.fields == {"email": ["Email already exists"]}


def test_taken_username_and_email_are_reported_together(app: MaridApplication) -> None:
    register(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.register_user("Alice", "alice@example.com", ORIGIN)

    assert caught.value.fields == {
        "username": ["Username already exists"],
        "email": ["Email already exists"],
    }


def test_refused_registration_records_nothing(app: MaridApplication) -> None:
    register(app, "alice")
    before = event_count(app)

    with pytest.raises(ValidationError):
        app.register_user("alice", "fresh@example.com", ORIGIN)

    assert event_count(app) == before
    assert register(app, "fresh") > 0  # the refused attempt did not keep fresh@example.com


def test_invalid_registration_records_nothing(app: MaridApplication) -> None:
    with pytest.raises(ValidationError):
        app.register_user("a!", "nope", ORIGIN)

    assert event_count(app) == 0


def test_user_is_found_by_username_regardless_of_case(app: MaridApplication) -> None:
    user_id = register(app, "Alice")

    assert app.user_id_for("alice") == user_id
    assert app.user_id_for("ALICE") == user_id
    assert app.user_id_for("bob") is None


def test_registration_saves_user_and_both_indexes_in_one_write(app: MaridApplication) -> None:
    outcome = app.register_user("alice", "alice@example.com", ORIGIN)

    assert sorted(type(r.domain_event).__qualname__ for r in outcome.recordings) == [
        "Index.Claimed",
        "Index.Claimed",
        "User.Registered",
    ]


def test_unknown_user_is_not_found(app: MaridApplication) -> None:
    with pytest.raises(NotFoundError):
        app.get_user(404)


def test_token_keeps_its_hash_canonical_scopes_and_expiry(app: MaridApplication) -> None:
    user_id = register(app, "alice")
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    token_id = app.create_token(
        user_id, "ci", "hash", Scopes.parse("namespace:read build:write"), expires, ORIGIN
    ).value

    token = app.load(Token.create_id(token_id), Token)
    assert token is not None
    assert (token.user_id, token.name, token.token_hash) == (user_id, "ci", "hash")
    assert token.scopes == "build:write namespace:read"
    assert token.expires_at == expires
    assert not token.revoked


def test_token_of_an_unknown_user_is_refused(app: MaridApplication) -> None:
    with pytest.raises(NotFoundError):
        app.create_token(404, "ci", "hash", Scopes.all(), None, ORIGIN)


@pytest.mark.parametrize("name", ["", "x" * 65])
def test_token_name_is_between_1_and_64_characters(app: MaridApplication, name: str) -> None:
    user_id = register(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.create_token(user_id, name, "hash", Scopes.all(), None, ORIGIN)

    assert caught.value.fields == {"name": ["Name must be between 1 and 64 characters in length"]}


def test_revoked_token_stays_revoked_and_is_revoked_once(app: MaridApplication) -> None:
    user_id = register(app, "alice")
    token_id = app.create_token(user_id, "ci", "hash", Scopes.all(), None, ORIGIN).value

    app.revoke_token(token_id, ORIGIN)
    second = app.revoke_token(token_id, ORIGIN)

    token = app.load(Token.create_id(token_id), Token)
    assert token is not None
    assert token.revoked
    assert second.recordings == []


def test_revoking_an_unknown_token_is_not_found(app: MaridApplication) -> None:
    with pytest.raises(NotFoundError):
        app.revoke_token(404, ORIGIN)


def test_load_of_another_kind_of_aggregate_is_none(app: MaridApplication) -> None:
    user_id = register(app, "alice")

    assert app.load(User.create_id(user_id), Index) is None
    assert app.load(User.create_id(user_id), User) is not None


def test_user_events_carry_the_origin_of_their_command(app: MaridApplication) -> None:
    registered = Origin.user(10, "req-register")
    created = Origin.user(11, "req-token")
    revoked = Origin.system("cli")

    user_id = app.register_user("alice", "alice@example.com", registered).value
    mark = event_count(app)
    token_id = app.create_token(user_id, "ci", "hash", Scopes.all(), None, created).value
    mark2 = event_count(app)
    app.revoke_token(token_id, revoked)

    assert {e.origin for e in events_after(app, 0)[:mark]} == {registered}
    assert {e.origin for e in events_after(app, mark)[: mark2 - mark]} == {created}
    assert {e.origin for e in events_after(app, mark2)} == {revoked}
