"""Personal tokens managed by their owner: unique names, rename, re-scope, regenerate,
revoke; never another user's."""

from __future__ import annotations

import pytest

from application.app import MaridApplication
from domain.errors import NotFoundError, ValidationError
from domain.scopes import Scopes
from domain.tokens import NAME_TAKEN, Token
from tests.unit.conftest import ORIGIN, register

READ = Scopes.parse("build:read")


@pytest.fixture
def alice(app: MaridApplication) -> int:
    return register(app, "alice")


def web_token(app: MaridApplication, user_id: int, name: str, token_hash: str = "") -> int:
    digest = token_hash or f"hash-{user_id}-{name}"
    return app.create_token(user_id, name, digest, READ, None, ORIGIN, unique_name=True).value


def token(app: MaridApplication, token_id: int) -> Token:
    found = app.load(Token.create_id(token_id), Token)
    assert found is not None
    return found


def test_token_name_is_unique_per_user_regardless_of_case(
    app: MaridApplication, alice: int
) -> None:
    bob = register(app, "bob")
    web_token(app, alice, "laptop")

    with pytest.raises(ValidationError) as caught:
        web_token(app, alice, "LAPTOP", "other-hash")
    web_token(app, bob, "laptop")

    assert caught.value.fields == {"name": [NAME_TAKEN]}


def test_cli_tokens_may_share_a_name_but_the_web_may_not(app: MaridApplication, alice: int) -> None:
    app.create_token(alice, "cli", "h1", READ, None, ORIGIN)
    app.create_token(alice, "cli", "h2", READ, None, ORIGIN)

    with pytest.raises(ValidationError):
        web_token(app, alice, "cli")


def test_revoked_token_frees_its_name(app: MaridApplication, alice: int) -> None:
    first = web_token(app, alice, "laptop")

    app.revoke_token(first, ORIGIN, user_id=alice)

    assert web_token(app, alice, "laptop", "new-hash") != first


def test_rename_and_rescope(app: MaridApplication, alice: int) -> None:
    token_id = web_token(app, alice, "laptop")

    app.update_token(alice, token_id, "desktop", Scopes.parse("namespace:read"), ORIGIN)

    renamed = token(app, token_id)
    assert (renamed.name, renamed.scopes) == ("desktop", "namespace:read")
    web_token(app, alice, "laptop", "reuses-the-old-name")


def test_rename_to_a_taken_name_is_refused(app: MaridApplication, alice: int) -> None:
    web_token(app, alice, "laptop")
    token_id = web_token(app, alice, "desktop")

    with pytest.raises(ValidationError) as caught:
        app.update_token(alice, token_id, "Laptop", READ, ORIGIN)

    assert caught.value.fields == {"name": [NAME_TAKEN]}
    assert token(app, token_id).name == "desktop"


def test_rename_to_an_empty_name_is_refused(app: MaridApplication, alice: int) -> None:
    token_id = web_token(app, alice, "laptop")

    with pytest.raises(ValidationError) as caught:
        app.update_token(alice, token_id, " ", READ, ORIGIN)

    assert list(caught.value.fields) == ["name"]


def test_regenerate_gives_a_new_hash(app: MaridApplication, alice: int) -> None:
    token_id = web_token(app, alice, "laptop", "old-hash")

    app.regenerate_token(alice, token_id, "new-hash", ORIGIN)

    assert token(app, token_id).token_hash == "new-hash"


@pytest.mark.parametrize("action", ["update", "regenerate", "revoke"])
def test_another_users_token_is_not_found(app: MaridApplication, alice: int, action: str) -> None:
    bob = register(app, "bob")
    token_id = web_token(app, alice, "laptop")

    attempts = {
        "update": lambda: app.update_token(bob, token_id, "mine", READ, ORIGIN),
        "regenerate": lambda: app.regenerate_token(bob, token_id, "stolen", ORIGIN),
        "revoke": lambda: app.revoke_token(token_id, ORIGIN, user_id=bob),
    }

    with pytest.raises(NotFoundError):
        attempts[action]()

    unchanged = token(app, token_id)
    assert (unchanged.name, unchanged.token_hash, unchanged.revoked) == (
        "laptop",
        f"hash-{alice}-laptop",
        False,
    )


def test_revoked_token_cannot_be_updated(app: MaridApplication, alice: int) -> None:
    token_id = web_token(app, alice, "laptop")
    app.revoke_token(token_id, ORIGIN, user_id=alice)

    with pytest.raises(NotFoundError):
        app.update_token(alice, token_id, "again", READ, ORIGIN)
    with pytest.raises(NotFoundError):
        app.revoke_token(token_id, ORIGIN, user_id=alice)


def test_unknown_token_is_not_found(app: MaridApplication, alice: int) -> None:
    with pytest.raises(NotFoundError):
        app.regenerate_token(alice, 404, "x", ORIGIN)
