"""Ports the account use cases need: password hashing and the failed sign-in throttle."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol


class PasswordHasher(Protocol):
    """A memory-hard password hash (argon2id: `infrastructure.passwords`)."""

    def hash(self, password: str) -> str:
        """A new salted hash of `password`."""
        ...

    def verify(self, password_hash: str | None, password: str) -> tuple[bool, str | None]:
        """Whether `password` matches `password_hash`, and a new hash of it when the stored
        one uses weaker parameters than today's (None otherwise). A None hash (a user
        without a password, or no such user) costs as long as a real check, and fails."""
        ...


class UnconfiguredPasswords:
    """A PasswordHasher that refuses: an application must be given a real one."""

    def hash(self, password: str) -> str:
        raise RuntimeError("no PasswordHasher configured")

    def verify(self, password_hash: str | None, password: str) -> tuple[bool, str | None]:
        raise RuntimeError("no PasswordHasher configured")


class SignInThrottle(Protocol):
    """Failed sign-ins counted per key (`account:<id>`, `address:<ip>`) in a sliding
    window: operational data, not events, shared by every API process."""

    def failures(self, keys: Iterable[str], since: datetime) -> dict[str, int]:
        """How many failures each key had after `since` (keys without any are left out)."""
        ...

    def record_failure(self, keys: Iterable[str], at: datetime) -> None:
        """Count one failure against each key."""
        ...

    def clear(self, key: str) -> None:
        """Forget a key's failures (an account's, after it signed in)."""
        ...

    def prune(self, before: datetime) -> None:
        """Drop failures older than `before` (they no longer count)."""
        ...


class InMemorySignInThrottle:
    """The throttle of one process, in a dict: for unit tests and a single node."""

    def __init__(self) -> None:
        self._failures: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    def failures(self, keys: Iterable[str], since: datetime) -> dict[str, int]:
        with self._lock:
            counts = {k: sum(at > since for at in self._failures.get(k, [])) for k in keys}
        return {k: n for k, n in counts.items() if n}

    def record_failure(self, keys: Iterable[str], at: datetime) -> None:
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, []).append(at)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def prune(self, before: datetime) -> None:
        with self._lock:
            for key in list(self._failures):
                kept = [at for at in self._failures[key] if at >= before]
                if kept:
                    self._failures[key] = kept
                else:
                    del self._failures[key]


# Failed sign-ins allowed in WINDOW before the next attempt is refused unchecked.
WINDOW = timedelta(minutes=15)
PER_ACCOUNT = 5
PER_ADDRESS = 20
