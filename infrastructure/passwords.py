"""Password hashing with argon2id (argon2-cffi), the `PasswordHasher` port.

The library's defaults are RFC 9106's second recommended profile (64 MiB, 3 passes, 4
lanes): about 0.15 s a hash on a small machine. A hash records its parameters, so a
stored one made with weaker parameters is recognised at sign-in and replaced.
"""

from __future__ import annotations

from functools import cached_property

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Passwords:
    """argon2id hashes; cheaper parameters only for tests (`Argon2Passwords.cheap()`)."""

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self.hasher = hasher or argon2.PasswordHasher()  # argon2id, RFC 9106 profile

    @cached_property
    def _decoy(self) -> str:
        """Verified when there is no hash to check against, so that an unknown user costs
        as long as a known one (the answer's timing tells nothing)."""
        return self.hasher.hash("no such user: a password nobody has")

    @classmethod
    def cheap(cls) -> Argon2Passwords:
        """Fast, weak parameters for tests: still argon2id, still salted."""
        return cls(argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> tuple[bool, str | None]:
        """Whether the password matches, and its new hash if the stored one is weaker."""
        try:
            self.hasher.verify(password_hash or self._decoy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, None
        if password_hash is None:
            return False, None
        if self.hasher.check_needs_rehash(password_hash):
            return True, self.hasher.hash(password)
        return True, None
