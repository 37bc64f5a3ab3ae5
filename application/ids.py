"""The id allocation port: integer public ids per resource kind."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Protocol


class IdAllocator(Protocol):
    """Hands out increasing integer ids per resource kind (gaps allowed)."""

    def next_id(self, kind: str) -> int: ...


class InMemoryIds:
    """Counters in memory, for unit tests."""

    def __init__(self) -> None:
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def next_id(self, kind: str) -> int:
        with self._lock:
            self._counters[kind] += 1
            return self._counters[kind]
