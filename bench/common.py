"""What the benchmark scripts share: bounded phases, figures, loopback-only targets."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def line(self, expected: int) -> str:
        p50 = statistics.median(self.latencies) * 1000 if self.latencies else 0.0
        p95 = percentile(self.latencies, 0.95) * 1000
        codes = ", ".join(f"{n} x {code}" for code, n in sorted(self.statuses.items()))
        flag = "" if set(self.statuses) <= {expected} else "  <-- unexpected statuses"
        return (
            f"{self.name:<17} {self.rate:8.1f} req/s  ({self.requests} requests in "
            f"{self.seconds:.2f} s; {codes}; p50 {p50:.0f} ms, p95 {p95:.0f} ms){flag}"
        )


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def loopback_only(url: str) -> None:
    """Refuse any URL whose host does not resolve to loopback addresses only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SystemExit(f"bench: not an http(s) URL: {url}")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise SystemExit(f"bench: cannot resolve {parts.hostname}: {exc}") from None
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    if not addresses or not all(a.is_loopback for a in addresses):
        raise SystemExit(f"bench: {parts.hostname} is not a loopback address; refusing to load it")


def default_token() -> str | None:
    path = Path(os.environ.get("MARID_DATA_DIR") or "var") / "admin-token"
    if not path.exists():
        path = Path(__file__).resolve().parent.parent / "var" / "admin-token"
    return path.read_text().strip() if path.exists() else None


async def run_phase(
    name: str,
    clients: int,
    total: int,
    max_seconds: float,
    request: Callable[[int], Awaitable[httpx.Response]],
) -> Phase:
    """Issue up to `total` requests from `clients` concurrent workers, stopping at the limit."""
    phase = Phase(name)
    counter = iter(range(total))
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker() -> None:
        for i in counter:  # a shared iterator: each request number is taken once
            if time.perf_counter() > deadline:
                return
            sent = time.perf_counter()
            response = await request(i)
            phase.latencies.append(time.perf_counter() - sent)
            phase.statuses[response.status_code] += 1
            phase.requests += 1

    await asyncio.gather(*(worker() for _ in range(clients)))
    phase.seconds = time.perf_counter() - started
    return phase


def base_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes; add the script's own counts to it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--url", default=os.environ.get("MARID_BENCH_URL") or DEFAULT_URL)
    parser.add_argument("--token", default=os.environ.get("MARID_BENCH_TOKEN") or None)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="time limit of each phase (60)"
    )
    parser.add_argument("--keep", action="store_true", help="keep what the run created")
    return parser


def parse_common(
    parser: argparse.ArgumentParser, argv: list[str] | None, counts: dict[str, int]
) -> argparse.Namespace:
    """Parse, fill the token, and bound the clients and each count (`name`: maximum)."""
    args = parser.parse_args(argv)
    args.url = args.url.rstrip("/")
    args.token = args.token or default_token()
    if not args.token:
        parser.error("no token: pass --token, set MARID_BENCH_TOKEN, or start `marid serve` once")
    if not 1 <= args.clients <= 256:
        parser.error("clients must be 1-256")
    for name, maximum in counts.items():
        if not 1 <= getattr(args, name) <= maximum:
            parser.error(f"{name} must be 1-{maximum}")
    return args


def parse_counted(
    doc: str | None, argv: list[str] | None, counts: dict[str, tuple[int, int, str]]
) -> argparse.Namespace:
    """The common options plus a count per phase (`name`: default, maximum, what)."""
    parser = base_parser(doc)
    for name, (default, _, what) in counts.items():
        parser.add_argument(f"--{name}", type=int, default=default, help=f"{what} ({default})")
    return parse_common(parser, argv, {name: maximum for name, (_, maximum, _) in counts.items()})


def exit_status(*phases: tuple[Phase, int]) -> int:
    """Print each phase's line; 0 when every phase got only its expected status, else 1."""
    for phase, expected in phases:
        print(phase.line(expected))
    return 0 if all(set(phase.statuses) <= {expected} for phase, expected in phases) else 1


def main(
    bench: Callable[[argparse.Namespace], Awaitable[int]],
    doc: str | None,
    counts: dict[str, tuple[int, int, str]],
    argv: list[str] | None = None,
) -> int:
    """Parse the common options and `counts` (see `parse_counted`), then run `bench`."""
    return run(bench, parse_counted(doc, argv, counts))


class NotSignedInError(Exception):
    """The token does not sign in at the URL (the message says what marid answered)."""


@asynccontextmanager
async def signed_in(
    args: argparse.Namespace, run_id: str, timeout: float
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client of `args.clients` connections with the token, and the token's username;
    prints the run's first line."""
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(
        base_url=args.url, headers=headers, limits=limits, timeout=timeout
    ) as client:
        me = await client.get("/api/user")
        if me.status_code != 200:
            raise NotSignedInError(f"GET /api/user answered {me.status_code}: {me.text}")
        username = me.json()["username"]
        print(f"marid bench against {args.url} as {username}: run {run_id}, {args.clients} clients")
        yield client, username


def run(bench: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    """Refuse non-loopback targets, then run the benchmark."""
    loopback_only(args.url)
    try:
        return asyncio.run(bench(args))
    except NotSignedInError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
