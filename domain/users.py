"""The User aggregate and its registration rules."""

from __future__ import annotations

import re
from dataclasses import InitVar

from domain.aggregates import PublicAggregate
from domain.errors import Errors
from domain.origin import Origin

# Use with fullmatch: `$` alone would also accept a trailing newline.
USERNAME_RE = re.compile(r"[a-zA-Z0-9.-]+")


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


class User(PublicAggregate):
    """A person who signs in, owns namespaces and holds tokens."""

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
