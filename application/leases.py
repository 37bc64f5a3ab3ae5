"""Build leases in memory (the `Leases` port), for unit tests and a single process."""

from __future__ import annotations

import threading
from datetime import datetime


class InMemoryLeases:
    """One lease per build in a dict: the claim holding it and when it runs out."""

    def __init__(self) -> None:
        self._leases: dict[int, tuple[str, datetime]] = {}
        self._lock = threading.Lock()

    def acquire(self, build_id: int, claim: str, until: datetime, now: datetime) -> bool:
        with self._lock:
            held = self._leases.get(build_id)
            if held is not None and held[0] != claim and held[1] >= now:
                return False
            self._leases[build_id] = (claim, until)
            return True

    def renew(self, build_id: int, claim: str, until: datetime) -> bool:
        with self._lock:
            if self.expiry(build_id, claim) is None:
                return False
            self._leases[build_id] = (claim, until)
            return True

    def expiry(self, build_id: int, claim: str) -> datetime | None:
        held = self._leases.get(build_id)
        return held[1] if held is not None and held[0] == claim else None

    def release(self, build_id: int, claim: str) -> None:
        with self._lock:
            if self.expiry(build_id, claim) is not None:
                del self._leases[build_id]

    def now(self) -> datetime | None:
        return None  # in one process: the application's clock
