"""The User aggregate and its registration rules."""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Errors
from domain.identity import aggregate_id
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


class User(Aggregate):
    """A person who signs in, owns namespaces and holds tokens."""

    @staticmethod
    def create_id(public_id: int) -> UUID:
        return aggregate_id("user", public_id)

    class Registered(Aggregate.Created):
        public_id: int
        username: str
        email: str
        origin: Origin
        # Added after the first release: events stored before it read as not admin.
        admin: bool = False

    @event(Registered)
    def __init__(
        self, public_id: int, username: str, email: str, origin: Origin, admin: bool = False
    ) -> None:
        self.public_id = public_id
        self.username = username
        self.email = email
        self.admin = admin
