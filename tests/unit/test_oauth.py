"""OAuth apps and the authorization-code flow on the in-memory event store."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from application.app import MaridApplication
from application.oauth import CODE_LIFETIME, RegisteredApp
from domain.errors import NotFoundError, ValidationError
from domain.oauth import OAuthApp, OAuthError, s256
from domain.tokens import Token, hash_token
from infrastructure.cipher import AesGcmBox
from tests.unit.accounts_support import Clock, account_app
from tests.unit.conftest import ORIGIN, RacingApp, events_after, register

CALLBACK = "http://127.0.0.1:8765/callback"
VERIFIER = "v" * 43 + "-._~0123456789"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> MaridApplication:
    return account_app(clock)


def new_app(app: MaridApplication, owner: int, name: str = "Deployer") -> RegisteredApp:
    return app.register_app(
        owner, name, "ships builds", "https://deployer.example", CALLBACK, ORIGIN
    ).value


def code_for(
    app: MaridApplication,
    user_id: int,
    client: RegisteredApp,
    scope: str = "build:read",
    challenge: str | None = None,
) -> str:
    method = "S256" if challenge else None
    return app.issue_code(
        user_id, client.client_id, scope, CALLBACK, challenge, method, ORIGIN
    ).value


def exchange(
    app: MaridApplication,
    client: RegisteredApp,
    code: str,
    *,
    secret: str | None = None,
    redirect_uri: str | None = CALLBACK,
    verifier: str | None = None,
) -> tuple[str, str]:
    secret = client.client_secret if secret is None else secret
    done = app.exchange_code(client.client_id, secret, code, redirect_uri, verifier, ORIGIN)
    return done.value.access_token, done.value.scopes


def grant_error(call: object) -> OAuthError:
    assert callable(call)
    with pytest.raises(OAuthError) as caught:
        call()
    return caught.value


def test_register_app_gives_client_id_and_secret(app: MaridApplication) -> None:
    owner = register(app, "alice")

    client = new_app(app, owner)

    assert re.fullmatch(r"[0-9a-f]{32}", client.client_id)
    assert re.fullmatch(r"[0-9a-f]{64}", client.client_secret)
    stored = app.own_app(owner, client.client_id)
    assert client.client_secret not in stored.secret  # sealed
    assert app.secrets.open(stored.secret) == client.client_secret


def test_app_fields_are_validated_together(app: MaridApplication) -> None:
    owner = register(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.register_app(owner, "", "", "not a url", "ftp://x.example/cb", ORIGIN)

    assert caught.value.fields == {
        "name": ["Name field required"],
        "homepage_uri": ["Homepage_uri must be an absolute http or https URL"],
        "redirect_uri": ["Redirect_uri must be an absolute http or https URL"],
    }


def test_missing_uris_are_required(app: MaridApplication) -> None:
    owner = register(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.register_app(owner, "x", "", "", "", ORIGIN)

    assert caught.value.fields == {
        "homepage_uri": ["Homepage_uri field required"],
        "redirect_uri": ["Redirect_uri field required"],
    }


def test_app_name_is_unique_per_user(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    new_app(app, alice)

    with pytest.raises(ValidationError) as caught:
        new_app(app, alice, "deployer")
    new_app(app, bob)

    assert caught.value.fields == {"name": ["Name already exists"]}


def test_update_app_and_rename_frees_the_old_name(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)

    app.update_app(
        alice, client.client_id, "Shipper", "", "https://s.example", CALLBACK + "2", ORIGIN
    )

    changed = app.own_app(alice, client.client_id)
    assert (changed.name, changed.redirect_uri) == ("Shipper", CALLBACK + "2")
    new_app(app, alice, "Deployer")


def test_another_users_app_is_not_found(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    client = new_app(app, alice)

    for attempt in (
        lambda: app.update_app(bob, client.client_id, "x", "", CALLBACK, CALLBACK, ORIGIN),
        lambda: app.reset_app_secret(bob, client.client_id, ORIGIN),
        lambda: app.revoke_app_tokens(bob, client.client_id, ORIGIN),
        lambda: app.delete_app(bob, client.client_id, ORIGIN),
    ):
        with pytest.raises(NotFoundError):
            attempt()


def test_whole_flow_gives_a_token_for_the_granted_scope(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    client = new_app(app, alice)

    code = code_for(app, bob, client, "build:read,write namespace:read")
    access_token, scopes = exchange(app, client, code)

    assert re.fullmatch(r"[0-9a-f]{32}", code)
    assert scopes == "build:read,write namespace:read"
    [issued] = [e for e in events_after(app, 0) if isinstance(e, Token.Created)]
    assert (issued.user_id, issued.app_id, issued.name) == (bob, 1, f"client.{bob}")
    assert issued.token_hash == hash_token(access_token)
    assert issued.origin.actor == f"user:{bob}"


def test_code_is_single_use(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    code = code_for(app, alice, client)
    exchange(app, client, code)

    error = grant_error(lambda: exchange(app, client, code))

    assert (error.error, error.status) == ("invalid_grant", 400)


def test_code_expires_after_ten_minutes(app: MaridApplication, clock: Clock) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    early, late = code_for(app, alice, client), code_for(app, alice, client)

    clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    exchange(app, client, early)
    clock.advance(timedelta(seconds=1))

    assert timedelta(minutes=10) == CODE_LIFETIME
    assert grant_error(lambda: exchange(app, client, late)).description == "The code expired"


def test_code_is_bound_to_its_redirect_uri(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    code = code_for(app, alice, client)

    error = grant_error(lambda: exchange(app, client, code, redirect_uri=CALLBACK + "/other"))

    assert (error.error, error.description) == ("invalid_grant", "redirect_uri does not match")
    exchange(app, client, code)  # a refused attempt does not use the code up


def test_code_is_bound_to_its_app(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client, other = new_app(app, alice), new_app(app, alice, "Other")
    code = code_for(app, alice, client)

    assert grant_error(lambda: exchange(app, other, code)).error == "invalid_grant"


@pytest.mark.parametrize("secret", ["0" * 64, "", "short"])
def test_wrong_client_secret_is_invalid_client(app: MaridApplication, secret: str) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    code = code_for(app, alice, client)

    error = grant_error(
        lambda: app.exchange_code(client.client_id, secret, code, CALLBACK, None, ORIGIN)
    )

    assert (error.error, error.status) == ("invalid_client", 401)


def test_secret_is_accepted_in_upper_case_hex(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)

    assert exchange(app, client, code_for(app, alice, client), secret=client.client_secret.upper())


def test_unknown_client_is_invalid_client(app: MaridApplication) -> None:
    error = grant_error(lambda: app.exchange_code("f" * 32, "0" * 64, "c", None, None, ORIGIN))

    assert (error.error, error.status) == ("invalid_client", 401)


def test_unknown_or_missing_code(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)

    assert grant_error(lambda: exchange(app, client, "0" * 32)).error == "invalid_grant"
    assert grant_error(lambda: exchange(app, client, "")).error == "invalid_request"


def test_reset_secret_refuses_the_old_one(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    code = code_for(app, alice, client)

    new_secret = app.reset_app_secret(alice, client.client_id, ORIGIN).value

    assert grant_error(lambda: exchange(app, client, code)).error == "invalid_client"
    assert exchange(app, client, code, secret=new_secret)


def test_pkce_s256_needs_the_matching_verifier(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    code = code_for(app, alice, client, challenge=s256(VERIFIER))

    missing = grant_error(lambda: exchange(app, client, code))
    wrong = grant_error(lambda: exchange(app, client, code, verifier="w" * 43))

    assert (missing.error, wrong.error) == ("invalid_grant", "invalid_grant")
    assert exchange(app, client, code, verifier=VERIFIER)


def test_verifier_without_a_challenge_is_refused(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    code = code_for(app, alice, client)

    assert grant_error(lambda: exchange(app, client, code, verifier=VERIFIER)).error == (
        "invalid_grant"
    )


@pytest.mark.parametrize(
    ("challenge", "method"),
    [("x" * 43, "plain"), ("x" * 43, None), ("too-short", "S256"), (None, "S256")],
)
def test_only_well_formed_s256_challenges_are_accepted(
    app: MaridApplication, challenge: str | None, method: str | None
) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)

    error = grant_error(
        lambda: app.issue_code(
            alice, client.client_id, "build:read", CALLBACK, challenge, method, ORIGIN
        )
    )

    assert error.error == "invalid_request"


def test_authorization_request_checks(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    check = app.authorization_request

    assert grant_error(lambda: check("", CALLBACK, "build:read")).error == "invalid_request"
    assert grant_error(lambda: check("f" * 32, CALLBACK, "build:read")).status == 404
    mismatch = grant_error(lambda: check(client.client_id, CALLBACK + "x", "build:read"))
    bad_scope = grant_error(lambda: check(client.client_id, CALLBACK, "nothing:read"))

    assert mismatch.description == "redirect_uri does not match"
    assert (bad_scope.error, bad_scope.description) == (
        "invalid_scope",
        "unknown resource: nothing",
    )
    request = check(client.client_id, CALLBACK, "build:read")
    assert (request.name, request.granted, request.covered) == ("Deployer", None, False)


def test_existing_grant_covers_a_narrower_request_and_merges_a_wider(
    app: MaridApplication,
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    client = new_app(app, alice)
    exchange(app, client, code_for(app, bob, client, "build:read,write"))

    assert app.grant_covers(bob, client.client_id, "build:read")
    assert not app.grant_covers(bob, client.client_id, "namespace:read")
    assert not app.grant_covers(alice, client.client_id, "build:read")
    _, scopes = exchange(app, client, code_for(app, bob, client, "namespace:read"))
    assert scopes == "build:read,write namespace:read"


def test_a_second_grant_updates_the_one_token_with_a_new_value(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    first, _ = exchange(app, client, code_for(app, alice, client))

    second, _ = exchange(app, client, code_for(app, alice, client, "key:read"))

    tokens = [e for e in events_after(app, 0) if isinstance(e, Token.Created)]
    assert len(tokens) == 1
    live = app.load(Token.create_id(tokens[0].public_id), Token)
    assert live is not None
    assert live.token_hash == hash_token(second) != hash_token(first)


def test_revoke_connection_then_grant_again(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    client = new_app(app, alice)
    exchange(app, client, code_for(app, bob, client))

    app.revoke_connection(bob, 1, ORIGIN)

    assert not app.grant_covers(bob, client.client_id, "build:read")
    with pytest.raises(NotFoundError):
        app.revoke_connection(bob, 1, ORIGIN)
    with pytest.raises(NotFoundError):
        app.revoke_connection(alice, 1, ORIGIN)
    exchange(app, client, code_for(app, bob, client))
    assert app.grant_covers(bob, client.client_id, "build:read")


def test_revoke_app_tokens_revokes_every_users_token(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    client = new_app(app, alice)
    for user in (alice, bob):
        exchange(app, client, code_for(app, user, client))

    revoked = app.revoke_app_tokens(alice, client.client_id, ORIGIN).value

    assert revoked == 2
    assert not app.grant_covers(bob, client.client_id, "build:read")
    assert not app.grant_covers(alice, client.client_id, "build:read")


def test_deleted_app_is_gone_with_its_tokens(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    code = code_for(app, alice, client)
    exchange(app, client, code_for(app, alice, client))

    app.delete_app(alice, client.client_id, ORIGIN)

    assert app.app_for_client(client.client_id) is None
    assert grant_error(lambda: exchange(app, client, code)).error == "invalid_client"
    new_app(app, alice)  # the name is free again


def test_disabled_user_cannot_grant_or_exchange(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    client = new_app(app, alice)
    code = code_for(app, bob, client)

    app.disable_user(bob, ORIGIN)

    assert grant_error(lambda: exchange(app, client, code)).error == "invalid_grant"
    with pytest.raises(NotFoundError):
        code_for(app, bob, client)


def test_events_hold_no_secret_in_clear(app: MaridApplication) -> None:
    alice = register(app, "alice")
    client = new_app(app, alice)
    code = code_for(app, alice, client)
    access_token, _ = exchange(app, client, code)

    recorded = [repr(vars(e)) for e in events_after(app, 0)]

    for secret in (client.client_secret, code, access_token):
        assert not any(secret in text for text in recorded)
    assert any(isinstance(e, OAuthApp.Created) for e in events_after(app, 0))


def test_two_exchanges_of_one_code_racing_give_one_token(racing: RacingApp) -> None:
    racing.secrets = AesGcmBox(b"unit-test-key-material-32-bytes!")
    alice = register(racing, "alice")
    client = new_app(racing, alice)
    code = code_for(racing, alice, client)
    won: list[str] = []
    racing.competitors.append(lambda: won.append(exchange(racing, client, code)[0]))

    error = grant_error(lambda: exchange(racing, client, code))

    assert error.description == "The code was already used"
    assert len(won) == 1
    tokens = [e for e in events_after(racing, 0) if isinstance(e, Token.Created)]
    assert [t.token_hash for t in tokens] == [hash_token(won[0])]
