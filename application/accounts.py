"""Use cases for web accounts: passwords, disabling, signing in and out, sessions.

Sign-in is throttled per account and per address (`account_ports`): after PER_ACCOUNT
failures for an account, or PER_ADDRESS from an address, within WINDOW, attempts are
refused without checking the password until the window has moved on. An unknown handle
costs one password check all the same, so the answer's timing does not tell whether the
account exists.

A session is an aggregate named by the hash of its random token (`domain.sessions`):
signing in records `Session.Started` (the audit trail's sign-in), signing out
`Session.Ended`. A request's session is read from the event store, so it works at once
after sign-in and stops at once when its user is disabled.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from application.account_ports import (
    PER_ACCOUNT,
    PER_ADDRESS,
    WINDOW,
    InMemorySignInThrottle,
    SignInThrottle,
)
from application.core import Outcome, command
from application.users import UserCases
from domain.errors import DomainError, ValidationError
from domain.identity import aggregate_id
from domain.origin import Origin
from domain.sessions import Session
from domain.tokens import hash_token
from domain.users import PASSWORD_MAX, User, password_errors, validate_password

INVALID_CREDENTIALS = "Invalid credentials"
DISABLED = "This account is disabled"
THROTTLED = "Too many failed sign-ins; try again later"
DEFAULT_SESSION_LIFETIME = timedelta(days=14)


class SignInError(DomainError):
    """Raised when a sign-in is refused: unknown handle, wrong password, disabled account."""

    def __init__(self, message: str = INVALID_CREDENTIALS) -> None:
        super().__init__(message)
        self.message = message


class SignInThrottledError(SignInError):
    """Raised when too many sign-ins failed lately for the account or the address;
    `retry_after` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(THROTTLED)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignIn:
    """A new session: give `session_token` to the browser (a cookie); it is not kept."""

    user_id: int
    session_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedInUser:
    """The user a live session signs in (read from the event store, never stale)."""

    id: int
    username: str
    email: str
    admin: bool
    created_at: datetime


def hash_session_token(session_token: str) -> str:
    return hash_token(session_token)  # stored like a personal token: SHA-256 only


class AccountCases(UserCases):
    _throttle: SignInThrottle | None = None
    session_lifetime: timedelta = DEFAULT_SESSION_LIFETIME

    @property
    def sign_in_throttle(self) -> SignInThrottle:
        """Failed sign-ins: in memory unless wired to the shared PostgreSQL table."""
        if self._throttle is None:
            self._throttle = InMemorySignInThrottle()
        return self._throttle

    @sign_in_throttle.setter
    def sign_in_throttle(self, throttle: SignInThrottle) -> None:
        self._throttle = throttle

    @command
    def set_password(self, user_id: int, password: str, origin: Origin) -> Outcome[None]:
        """Set a user's password (an administrator's or the CLI's way): ValidationError
        {"password": [...]} when it breaks a rule; NotFoundError for no such user."""
        validate_password(password)
        user = self.get_user(user_id)
        user.set_password(self.passwords.hash(password), origin)
        return Outcome(None, self.save(user))

    @command
    def change_password(
        self, user_id: int, current_password: str, new_password: str, origin: Origin
    ) -> Outcome[None]:
        """A signed-in user changes their password: the current one must match
        (ValidationError {"current_password": [...]}), the new one obey the rules
        ({"password": [...]}); both reported together."""
        user = self.get_user(user_id)
        fields: dict[str, list[str]] = {}
        matches, _ = self.passwords.verify(user.password_hash, current_password)
        if not matches:
            fields["current_password"] = ["Password is incorrect"]
        if errors := password_errors(new_password):
            fields["password"] = errors
        if fields:
            raise ValidationError(fields)
        user.set_password(self.passwords.hash(new_password), origin)
        return Outcome(None, self.save(user))

    @command
    def disable_user(self, user_id: int, origin: Origin) -> Outcome[None]:
        """Disable a user: no sign-in any more; their sessions and tokens stop working."""
        user = self.get_user(user_id)
        user.disable(origin)
        return Outcome(None, self.save(user))

    @command
    def enable_user(self, user_id: int, origin: Origin) -> Outcome[None]:
        """Enable a disabled user again (their tokens work again; sessions stay ended
        only if they expired or signed out)."""
        user = self.get_user(user_id)
        user.enable(origin)
        return Outcome(None, self.save(user))

    def sign_in(self, handle: str, password: str, address: str, origin: Origin) -> Outcome[SignIn]:
        """Sign in with a username or email address and a password; a new session.

        Raises SignInThrottledError when the account or `address` failed too often
        lately (checked before the password), SignInError(INVALID_CREDENTIALS) for an
        unknown handle or a wrong password, SignInError(DISABLED) for a disabled account
        (told only to whoever knows its password).
        """
        now = self.clock()
        if len(password) > PASSWORD_MAX:  # no such password exists: not worth hashing
            raise SignInError()
        user_id = self._user_id_for_handle(handle)
        keys = [f"address:{address}"] + ([f"account:{user_id}"] if user_id is not None else [])
        self._refuse_if_throttled(keys, now)
        user = None if user_id is None else self.load(aggregate_id("user", user_id), User)
        matches, rehash = self.passwords.verify(
            None if user is None else user.password_hash, password
        )
        if user is None or not matches:
            self.sign_in_throttle.record_failure(keys, now)
            raise SignInError()
        if user.disabled:
            raise SignInError(DISABLED)
        self.sign_in_throttle.clear(f"account:{user.public_id}")
        return self._start_session(user, address, rehash, origin)

    @command
    def _start_session(
        self, user: User, address: str, rehash: str | None, origin: Origin
    ) -> Outcome[SignIn]:
        token = secrets.token_urlsafe(32)
        expires_at = self.clock() + self.session_lifetime
        session = Session(
            token_hash=hash_session_token(token),
            user_id=user.public_id,
            address=address,
            expires_at=expires_at,
            origin=origin,
        )
        changed: list[User | Session] = [session]
        if rehash is not None:  # stronger parameters than when it was set
            fresh = self.get_user(user.public_id)
            fresh.set_password(rehash, origin)
            changed.append(fresh)
        return Outcome(SignIn(user.public_id, token, expires_at), self.save(*changed))

    def session_user(self, session_token: str, now: datetime | None = None) -> SignedInUser | None:
        """The user a session token signs in, if the session is live (not ended, not
        expired) and the user not disabled; else None."""
        if not session_token:
            return None
        session = self.load(Session.create_id(hash_session_token(session_token)), Session)
        if session is None or not session.live(now or self.clock()):
            return None
        user = self.load(aggregate_id("user", session.user_id), User)
        if user is None or user.disabled:
            return None
        return SignedInUser(user.public_id, user.username, user.email, user.admin, user.created_on)

    @command
    def sign_out(self, session_token: str, origin: Origin) -> Outcome[None]:
        """End the session (sign out); an unknown or ended session changes nothing."""
        session = self.load(Session.create_id(hash_session_token(session_token)), Session)
        if session is None or session.ended:
            return Outcome(None, [])
        session.end(origin)
        return Outcome(None, self.save(session))

    def _user_id_for_handle(self, handle: str) -> int | None:
        handle = handle.strip()
        if not handle:
            return None
        kind = "email" if "@" in handle else "username"
        return self.holder(kind, handle.lower())

    def _refuse_if_throttled(self, keys: list[str], now: datetime) -> None:
        counts = self.sign_in_throttle.failures(keys, now - WINDOW)
        for key, count in counts.items():
            limit = PER_ADDRESS if key.startswith("address:") else PER_ACCOUNT
            if count >= limit:
                raise SignInThrottledError(int(WINDOW.total_seconds()))
