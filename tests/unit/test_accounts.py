"""Passwords, disabling, signing in and out, and sessions, on the in-memory event store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from application.account_ports import PER_ACCOUNT, PER_ADDRESS, WINDOW
from application.accounts import (
    DISABLED,
    INVALID_CREDENTIALS,
    SignInError,
    SignInThrottledError,
    hash_session_token,
)
from application.app import MaridApplication
from domain.errors import NotFoundError, ValidationError
from domain.sessions import Session
from domain.users import PASSWORD_LENGTH, User
from infrastructure.passwords import Argon2Passwords
from tests.unit.accounts_support import ADDRESS, PASSWORD, Clock, account_app, user_with_password
from tests.unit.conftest import ORIGIN, events_after


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> MaridApplication:
    return account_app(clock)


def test_sign_in_with_username_or_email_starts_a_session(app: MaridApplication) -> None:
    alice = user_with_password(app, "alice")

    by_name = app.sign_in("Alice", PASSWORD, ADDRESS, ORIGIN).value
    by_email = app.sign_in("ALICE@example.com", PASSWORD, ADDRESS, ORIGIN).value

    assert by_name.user_id == by_email.user_id == alice
    assert by_name.session_token != by_email.session_token
    user = app.session_user(by_name.session_token)
    assert user is not None
    assert (user.id, user.username, user.email) == (alice, "alice", "alice@example.com")


def test_session_lasts_the_session_lifetime(app: MaridApplication, clock: Clock) -> None:
    app.session_lifetime = timedelta(hours=2)
    user_with_password(app, "alice")
    signed_in = app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN).value

    clock.advance(timedelta(hours=2) - timedelta(seconds=1))
    assert app.session_user(signed_in.session_token) is not None
    clock.advance(timedelta(seconds=1))

    assert signed_in.expires_at == clock.now
    assert app.session_user(signed_in.session_token) is None


def test_sign_out_ends_the_session(app: MaridApplication) -> None:
    user_with_password(app, "alice")
    signed_in = app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN).value

    app.sign_out(signed_in.session_token, ORIGIN)
    again = app.sign_out(signed_in.session_token, ORIGIN)

    assert app.session_user(signed_in.session_token) is None
    assert again.recordings == []


def test_unknown_or_empty_session_token_is_nobody(app: MaridApplication) -> None:
    assert app.session_user("") is None
    assert app.session_user("not-a-session") is None
    assert app.sign_out("not-a-session", ORIGIN).recordings == []


@pytest.mark.parametrize("handle", ["alice", "bob", "", "bob@example.com"])
def test_wrong_password_or_unknown_user_is_the_same_error(
    app: MaridApplication, handle: str
) -> None:
    user_with_password(app, "alice")

    with pytest.raises(SignInError) as caught:
        app.sign_in(handle, "wrong password", ADDRESS, ORIGIN)

    assert caught.value.message == INVALID_CREDENTIALS
    assert not isinstance(caught.value, SignInThrottledError)


def test_unknown_user_costs_a_password_check(app: MaridApplication) -> None:
    checked: list[str | None] = []

    class Counting(Argon2Passwords):
        def verify(self, password_hash: str | None, password: str) -> tuple[bool, str | None]:
            checked.append(password_hash)
            return super().verify(password_hash, password)

    app.passwords = Counting(Argon2Passwords.cheap().hasher)

    with pytest.raises(SignInError):
        app.sign_in("nobody", "whatever", ADDRESS, ORIGIN)

    assert checked == [None]


def test_user_without_a_password_cannot_sign_in(app: MaridApplication) -> None:
    app.register_user("alice", "alice@example.com", ORIGIN)

    with pytest.raises(SignInError) as caught:
        app.sign_in("alice", "", ADDRESS, ORIGIN)

    assert caught.value.message == INVALID_CREDENTIALS


def test_disabled_user_cannot_sign_in_and_their_sessions_stop(app: MaridApplication) -> None:
    alice = user_with_password(app, "alice")
    signed_in = app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN).value

    app.disable_user(alice, ORIGIN)

    assert app.session_user(signed_in.session_token) is None
    with pytest.raises(SignInError) as caught:
        app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN)
    assert caught.value.message == DISABLED
    with pytest.raises(SignInError) as wrong:
        app.sign_in("alice", "wrong password", ADDRESS, ORIGIN)
    assert wrong.value.message == INVALID_CREDENTIALS  # disabled is told only to the owner


def test_enabled_again_user_signs_in(app: MaridApplication) -> None:
    alice = user_with_password(app, "alice")
    app.disable_user(alice, ORIGIN)

    app.enable_user(alice, ORIGIN)

    assert app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN).value.user_id == alice


def test_disabling_an_unknown_user_is_not_found(app: MaridApplication) -> None:
    with pytest.raises(NotFoundError):
        app.disable_user(404, ORIGIN)


def test_failures_for_one_account_are_throttled(app: MaridApplication, clock: Clock) -> None:
    user_with_password(app, "alice")
    for n in range(PER_ACCOUNT):
        with pytest.raises(SignInError):
            app.sign_in("alice", "wrong password", f"192.0.2.{n}", ORIGIN)

    with pytest.raises(SignInThrottledError) as caught:
        app.sign_in("alice", PASSWORD, "198.51.100.1", ORIGIN)  # even the right password

    assert caught.value.retry_after == int(WINDOW.total_seconds())
    clock.advance(WINDOW)
    assert app.sign_in("alice", PASSWORD, "198.51.100.1", ORIGIN).value.session_token


def test_failures_from_one_address_are_throttled(app: MaridApplication) -> None:
    user_with_password(app, "alice")
    for n in range(PER_ADDRESS):
        with pytest.raises(SignInError):
            app.sign_in(f"nobody{n}", "wrong password", ADDRESS, ORIGIN)

    with pytest.raises(SignInThrottledError):
        app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN)
    assert app.sign_in("alice", PASSWORD, "198.51.100.1", ORIGIN).value.user_id


def test_a_sign_in_clears_the_account_failures(app: MaridApplication) -> None:
    user_with_password(app, "alice")
    for _ in range(PER_ACCOUNT - 1):
        with pytest.raises(SignInError):
            app.sign_in("alice", "wrong password", ADDRESS, ORIGIN)
    app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN)

    with pytest.raises(SignInError):
        app.sign_in("alice", "wrong password", "198.51.100.1", ORIGIN)

    assert app.sign_in("alice", PASSWORD, "198.51.100.1", ORIGIN).value.user_id


def test_sign_in_is_recorded_with_only_the_hash_of_the_session(app: MaridApplication) -> None:
    alice = user_with_password(app, "alice")
    mark = app.recorder.max_notification_id() or 0

    signed_in = app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN).value

    [started] = events_after(app, mark)
    assert isinstance(started, Session.Started)
    assert (started.user_id, started.address, started.origin) == (alice, ADDRESS, ORIGIN)
    assert started.token_hash == hash_session_token(signed_in.session_token)
    assert signed_in.session_token not in repr(vars(started))


def test_passwords_are_recorded_as_argon2id_hashes(app: MaridApplication) -> None:
    alice = user_with_password(app, "alice")

    [registered, password_set] = [
        e for e in events_after(app, 0) if isinstance(e, User.Registered | User.PasswordSet)
    ]

    assert registered.public_id == alice
    assert password_set.password_hash.startswith("$argon2id$")
    assert PASSWORD not in repr(vars(password_set))


def test_weaker_hash_is_replaced_at_sign_in(app: MaridApplication) -> None:
    alice = user_with_password(app, "alice")  # made with the cheap parameters
    app.passwords = Argon2Passwords(PasswordHasher(time_cost=2, memory_cost=128, parallelism=1))

    app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN)

    stored = app.get_user(alice).password_hash
    assert stored is not None
    assert "m=128,t=2" in stored
    assert app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN).value.user_id == alice


@pytest.mark.parametrize("password", ["", "short", "x" * 257])
def test_password_length_rule(app: MaridApplication, password: str) -> None:
    alice = user_with_password(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.set_password(alice, password, ORIGIN)

    assert list(caught.value.fields) == ["password"]
    assert caught.value.fields["password"][0] in (PASSWORD_LENGTH, "Password field required")


def test_registration_reports_password_with_the_other_fields(app: MaridApplication) -> None:
    with pytest.raises(ValidationError) as caught:
        app.register_user("a", "no-at-sign", ORIGIN, password="short")

    assert set(caught.value.fields) == {"username", "email", "password"}


def test_set_password_replaces_the_old_one(app: MaridApplication) -> None:
    alice = user_with_password(app, "alice")

    app.set_password(alice, "another good password", ORIGIN)

    with pytest.raises(SignInError):
        app.sign_in("alice", PASSWORD, ADDRESS, ORIGIN)
    assert app.sign_in("alice", "another good password", ADDRESS, ORIGIN).value.user_id


def test_change_password_needs_the_current_one(app: MaridApplication) -> None:
    alice = user_with_password(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.change_password(alice, "wrong password", "short", ORIGIN)
    app.change_password(alice, PASSWORD, "a brand new password", ORIGIN)

    assert caught.value.fields == {
        "current_password": ["Password is incorrect"],
        "password": [PASSWORD_LENGTH],
    }
    assert app.sign_in("alice", "a brand new password", ADDRESS, ORIGIN).value.user_id
