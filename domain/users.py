"""The User aggregate, its registration and password rules."""

from __future__ import annotations

import re
from dataclasses import InitVar

from eventsourcing.domain import Aggregate, event

from domain.aggregates import PublicAggregate
from domain.errors import Errors, ValidationError
from domain.origin import Origin

# Use with fullmatch: `$` alone would also accept a trailing newline.
USERNAME_RE = re.compile(r"[a-zA-Z0-9.-]+")

# Djinn asks 6 to 60 characters; 8 is today's usual least (NIST SP 800-63B). The upper
# bound only keeps a request from making the server hash megabytes.
PASSWORD_MIN = 8
PASSWORD_MAX = 256
PASSWORD_LENGTH = f"Password must be between {PASSWORD_MIN} and {PASSWORD_MAX} characters in length"


def validate_registration(username: str, email: str) -> None:
    """Raise ValidationError with every broken rule of a new user's fields."""
    errors = Errors()
    if not username:
        errors.add("username", "Username field required")
    else:
        if not 3 <= len(username) <= 30:
            errors.add("username", "Username must be between 3 and 30 characters in length")
        if not USERNAME_RE.fullmatch(username):
            errors.add("username", "Username can only have letters, numbers, dots, and dashes")
    if not email:
        errors.add("email", "Email field required")
    elif "@" not in email:
        errors.add("email", "Email invalid")
    errors.raise_if_any()


def password_errors(password: str) -> list[str]:
    """The rules a new password breaks (none: it may be set)."""
    if not password:
        return ["Password field required"]
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return [PASSWORD_LENGTH]
    return []


def validate_password(password: str, field: str = "password") -> None:
    """Raise ValidationError({field: [...]}) when a new password breaks a rule."""
    errors = password_errors(password)
    if errors:
        raise ValidationError({field: errors})


class User(PublicAggregate):
    """A person who signs in, owns namespaces and holds tokens.

    Only a password's argon2id hash is recorded, never the password. A disabled user
    can neither sign in nor use a token or session any more.
    """

    KIND = "user"

    username: str
    email: str
    origin: InitVar[Origin]
    admin: bool = False

    class Registered(PublicAggregate.Created):
        username: str
        email: str
        origin: Origin
        # Added after the first release: events stored before it read as not admin.
        admin: bool = False

    class PasswordSet(Aggregate.Event):
        password_hash: str
        origin: Origin

    class Disabled(Aggregate.Event):
        public_id: int  # for read models, which know users by public id
        origin: Origin

        def apply(self, aggregate: User) -> None:
            aggregate.disabled = True

    class Enabled(Aggregate.Event):
        public_id: int
        origin: Origin

        def apply(self, aggregate: User) -> None:
            aggregate.disabled = False

    def __post_init__(self, origin: Origin) -> None:
        self.password_hash: str | None = None
        self.disabled = False

    def set_password(self, password_hash: str, origin: Origin) -> None:
        """Record a new password hash (also a rehash with stronger parameters)."""
        self._password_set(password_hash=password_hash, origin=origin)

    @event(PasswordSet)
    def _password_set(self, password_hash: str, origin: Origin) -> None:
        self.password_hash = password_hash

    def disable(self, origin: Origin) -> None:
        """Disable the account; disabling a disabled account changes nothing."""
        if not self.disabled:
            self.trigger_event(self.Disabled, public_id=self.public_id, origin=origin)

    def enable(self, origin: Origin) -> None:
        """Enable a disabled account again; an enabled one stays as it is."""
        if self.disabled:
            self.trigger_event(self.Enabled, public_id=self.public_id, origin=origin)
