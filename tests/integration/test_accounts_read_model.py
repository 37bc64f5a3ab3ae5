"""Accounts, tokens and OAuth apps against PostgreSQL: the users read model, the
authenticate query, token use, the shared sign-in throttle and what the event log holds."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from application.account_ports import WINDOW
from application.accounts import SignInError
from domain.origin import Origin
from domain.scopes import Scopes
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from infrastructure.sign_in_throttle import PostgresSignInThrottle
from infrastructure.tokens import generate_token, hash_token
from projections.maintenance import stale_tables
from projections.users import UsersView
from tests.conftest import wired

ORIGIN = Origin.user(1, "req-accounts")
CALLBACK = "http://127.0.0.1:9/callback"
PASSWORD = "a long enough password"


def user(marid: Marid, name: str, password: str | None = None) -> int:
    outcome = marid.app.register_user(name, f"{name}@example.com", ORIGIN, password=password)
    return marid.settle(outcome)


def personal_token(marid: Marid, user_id: int, name: str = "laptop") -> tuple[int, str]:
    value = generate_token()
    outcome = marid.app.create_token(
        user_id, name, hash_token(value), Scopes.parse("build:read"), None, ORIGIN, unique_name=True
    )
    return marid.settle(outcome), value


def test_disabled_users_tokens_stop_authenticating(marid: Marid) -> None:
    alice = user(marid, "alice")
    _, value = personal_token(marid, alice)
    now = marid.clock()
    assert marid.users.authenticate(hash_token(value), now) is not None

    marid.settle(marid.app.disable_user(alice, ORIGIN))

    assert marid.users.authenticate(hash_token(value), now) is None
    assert [(u.username, u.disabled) for u in marid.users.all_users()] == [("alice", True)]
    marid.settle(marid.app.enable_user(alice, ORIGIN))
    assert marid.users.authenticate(hash_token(value), now) is not None


def test_token_use_is_recorded_at_most_once_a_minute(marid: Marid) -> None:
    alice = user(marid, "alice")
    token_id, value = personal_token(marid, alice)
    first = marid.clock()
    assert marid.users.token(alice, token_id).last_used_at is None  # type: ignore[union-attr]

    marid.users.authenticate(hash_token(value), first)
    marid.users.authenticate(hash_token(value), first + timedelta(seconds=59))
    after_59s = marid.users.token(alice, token_id)
    marid.users.authenticate(hash_token(value), first + timedelta(seconds=61))
    after_61s = marid.users.token(alice, token_id)

    assert after_59s is not None
    assert after_59s.last_used_at == first
    assert after_61s is not None
    assert after_61s.last_used_at == first + timedelta(seconds=61)


def test_renamed_regenerated_and_revoked_tokens_in_the_read_model(marid: Marid) -> None:
    alice, bob = user(marid, "alice"), user(marid, "bob")
    token_id, old = personal_token(marid, alice)
    new = generate_token()

    marid.settle(
        marid.app.update_token(alice, token_id, "desktop", Scopes.parse("key:read"), ORIGIN)
    )
    marid.settle(marid.app.regenerate_token(alice, token_id, hash_token(new), ORIGIN))

    row = marid.users.token(alice, token_id)
    assert row is not None
    assert (row.name, row.scopes, row.app_id) == ("desktop", "key:read", None)
    assert marid.users.token(bob, token_id) is None
    assert marid.users.authenticate(hash_token(old), marid.clock()) is None
    assert marid.users.authenticate(hash_token(new), marid.clock()) is not None
    marid.settle(marid.app.revoke_token(token_id, ORIGIN, user_id=alice))
    assert marid.users.token(alice, token_id) is None
    assert marid.users.tokens(alice, include_revoked=False) == []
    assert [t.id for t in marid.users.tokens(alice)] == [token_id]


def test_apps_and_connections_in_the_read_model(marid: Marid) -> None:
    alice, bob = user(marid, "alice"), user(marid, "bob")
    client = marid.settle(
        marid.app.register_app(alice, "Deployer", "", "https://d.example", CALLBACK, ORIGIN)
    )
    code = marid.app.issue_code(bob, client.client_id, "build:read", CALLBACK, None, None, ORIGIN)
    exchanged = marid.settle(
        marid.app.exchange_code(
            client.client_id, client.client_secret, code.value, CALLBACK, None, ORIGIN
        )
    )

    [app_row] = marid.users.apps(alice)
    assert (app_row.client_id, app_row.name, app_row.redirect_uri) == (
        client.client_id,
        "Deployer",
        CALLBACK,
    )
    assert marid.users.apps(bob) == []
    assert marid.users.app(client.client_id) == app_row
    assert marid.users.user_app(bob, client.client_id) is None
    [connection] = marid.users.connections(bob)
    assert (connection.app_id, connection.token_id, connection.scopes) == (
        app_row.id,
        exchanged.token_id,
        "build:read",
    )
    assert marid.users.connections(alice) == []
    found = marid.users.authenticate(hash_token(exchanged.access_token), marid.clock())
    assert found is not None
    assert (found[0].id, found[1].app_id) == (bob, app_row.id)

    marid.settle(marid.app.revoke_connection(bob, app_row.id, ORIGIN))
    assert marid.users.connections(bob) == []
    marid.settle(marid.app.delete_app(alice, client.client_id, ORIGIN))
    assert marid.users.apps(alice) == []


def test_event_log_holds_no_secret_in_clear(marid: Marid, database: str) -> None:
    alice = user(marid, "alice", password=PASSWORD)
    _, value = personal_token(marid, alice)
    session = marid.app.sign_in("alice", PASSWORD, "192.0.2.1", ORIGIN).value
    client = marid.app.register_app(
        alice, "Deployer", "", "https://d.example", CALLBACK, ORIGIN
    ).value
    code = marid.app.issue_code(alice, client.client_id, "build:read", CALLBACK, None, None, ORIGIN)
    exchanged = marid.app.exchange_code(
        client.client_id, client.client_secret, code.value, None, None, ORIGIN
    ).value

    with psycopg.connect(database) as conn:
        states = [bytes(r[0]) for r in conn.execute("SELECT state FROM marid_events").fetchall()]

    for secret in (
        PASSWORD,
        value,
        session.session_token,
        client.client_secret,
        code.value,
        exchanged.access_token,
    ):
        assert not any(secret.encode() in state for state in states), secret
    assert any(b"$argon2id$" in state for state in states)


def test_sign_in_against_postgresql_with_argon2id(marid: Marid) -> None:
    alice = user(marid, "alice", password=PASSWORD)

    signed_in = marid.app.sign_in("ALICE", PASSWORD, "192.0.2.1", ORIGIN).value

    found = marid.app.session_user(signed_in.session_token)
    assert found is not None
    assert found.id == alice
    with pytest.raises(SignInError):
        marid.app.sign_in("alice", "not the password", "192.0.2.1", ORIGIN)


def test_postgres_throttle_counts_shares_and_prunes(marid: Marid) -> None:
    throttle = PostgresSignInThrottle(marid.datastore)
    now = marid.clock()
    other_node = PostgresSignInThrottle(marid.datastore)

    throttle.record_failure(["account:1", "address:a"], now - WINDOW)
    throttle.record_failure(["account:1", "address:a"], now)
    other_node.record_failure(["account:1"], now)

    assert other_node.failures(["account:1", "address:a", "x"], now - WINDOW) == {
        "account:1": 2,
        "address:a": 1,
    }
    throttle.clear("account:1")
    assert throttle.failures(["account:1", "address:a"], now - WINDOW) == {"address:a": 1}
    throttle.prune(now + timedelta(seconds=1))
    assert throttle.failures(["address:a"], now - WINDOW - WINDOW) == {}


def test_users_read_model_of_the_previous_release_is_rebuilt(
    marid: Marid, settings: Settings
) -> None:
    alice, bob = user(marid, "alice"), user(marid, "bob")
    marid.settle(marid.app.disable_user(bob, ORIGIN))
    marid.settle(
        marid.app.register_app(alice, "Deployer", "", "https://d.example", CALLBACK, ORIGIN)
    )
    live = {table: marid.projections["users"].view.rows(table) for table in UsersView.tables}
    with marid.datastore.transaction(commit=True) as curs:  # as issue 13's release left it
        curs.execute("ALTER TABLE users DROP COLUMN disabled")
        curs.execute("ALTER TABLE tokens DROP COLUMN app_id")
        curs.execute("DROP TABLE apps")
    assert stale_tables(UsersView(marid.datastore)) == ["users", "tokens"]

    upgraded = wired(settings)
    try:
        assert stale_tables(UsersView(marid.datastore)) == []
        rows = {table: marid.projections["users"].view.rows(table) for table in UsersView.tables}
        assert rows == live
        assert [u.disabled for u in marid.users.all_users()] == [False, True]
    finally:
        upgraded.close()
