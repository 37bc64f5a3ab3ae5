"""Per-client request limits: a fixed window per client, answered with 429 and RateLimit-* headers.

A client is its bearer token when it sends one (so users behind one address do not share a
budget), else its address. Requests with tokens also count against their address with
`ADDRESS_FACTOR` times the budget, so a stream of made-up tokens gains little.

The address is the connection's peer (`scope["client"]`): the server replaces it with the
`X-Forwarded-For` client only when the peer is one of `MARID_TRUSTED_PROXIES`
(`ops.server`), so no other client can pick its own address. Counting happens in the
process: with several API nodes each node limits its own share (README, configuration).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

WINDOW = 60.0  # seconds
MESSAGE = "Rate limit exceeded, try again later"
ADDRESS_FACTOR = 10  # an address's budget for requests with tokens, in client budgets


@dataclass
class Window:
    started: float
    count: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> list[tuple[bytes, bytes]]:
        values = [
            (b"ratelimit-limit", str(self.limit)),
            (b"ratelimit-remaining", str(self.remaining)),
            (b"ratelimit-reset", str(self.reset)),
            (b"ratelimit-policy", f"{self.limit};w={int(WINDOW)}"),
        ]
        if not self.allowed:
            values.append((b"retry-after", str(self.reset)))
        return [(k, v.encode()) for k, v in values]


class RateLimiter:
    """At most `limit` requests per client per minute; `limit` 0 turns limiting off."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._windows: dict[str, Window] = {}
        self._next_prune = 0.0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def check(self, client: str, limit: int | None = None) -> Verdict:
        """Count one request of `client` against `limit` (default: the client budget);
        refused requests count too: a client that keeps hammering stays refused until its
        window ends."""
        limit = self.limit if limit is None else limit
        now = self.clock()
        self._prune(now)
        window = self._windows.get(client)
        if window is None or now - window.started >= WINDOW:
            window = self._windows[client] = Window(now, 0)
        window.count += 1
        reset = max(1, math.ceil(window.started + WINDOW - now))
        remaining = max(0, limit - window.count)
        return Verdict(window.count <= limit, limit, remaining, reset)

    def check_request(self, scope: dict[str, Any]) -> Verdict:
        """Count a request: a token's requests against their address's larger budget first
        (a refusal there stops the count, so made-up tokens leave no entries), then
        against the client."""
        client = client_of(scope)
        if client.startswith("token:"):
            address = self.check("tokens@" + address_of(scope), self.limit * ADDRESS_FACTOR)
            if not address.allowed:
                return address
        return self.check(client)

    def _prune(self, now: float) -> None:
        if now < self._next_prune:
            return
        self._next_prune = now + WINDOW
        self._windows = {k: w for k, w in self._windows.items() if now - w.started < WINDOW}


def client_of(scope: dict[str, Any]) -> str:
    """The bearer token's digest when one is sent, else the peer address."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization" and value:
            return "token:" + hashlib.sha256(value).hexdigest()
    return address_of(scope)


def address_of(scope: dict[str, Any]) -> str:
    """The peer's address (a trusted proxy's client's, as the server resolved it)."""
    peer = scope.get("client")
    return f"addr:{peer[0]}" if peer else "addr:unknown"


def too_many(verdict: Verdict, request_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ASGI start and body messages of a 429 answer."""
    body = msgspec.json.encode({"message": MESSAGE})
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        *verdict.headers(),
    ]
    start = {"type": "http.response.start", "status": 429, "headers": headers}
    return start, {"type": "http.response.body", "body": body}
