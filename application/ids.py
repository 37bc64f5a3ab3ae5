"""The id allocation port: integer public ids per resource kind."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Protocol


class IdAllocator(Protocol):
    """Hands out increasing integer ids per resource kind (gaps allowed)."""

    def next_id(self, kind: str) -> int: ...

    def next_ids(self, kind: str, n: int) -> list[int]:
        """`n` new ids of one kind at once, increasing."""
        ...


class InMemoryIds:
    """Counters in memory, for unit tests."""

    def __init__(self) -> None:
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def next_id(self, kind: str) -> int:
        with self._lock:
            self._counters[kind] += 1
            return self._counters[kind]

    def next_ids(self, kind: str, n: int) -> list[int]:
        with self._lock:
            first = self._counters[kind] + 1
            self._counters[kind] += max(n, 0)
            return list(range(first, self._counters[kind] + 1))
