"""Namespace throughput of a running marid: creates per second and lists per second.

Runs against a server on this machine only (loopback), with a bounded number of requests
and a time limit per phase. Every run uses names of its own and, unless `--keep` is given,
deletes what it created afterwards (not timed), so that runs stay comparable.

    python bench/namespaces.py [--url URL] [--token TOKEN] [--clients 16]

The URL and token may also come from MARID_BENCH_URL and MARID_BENCH_TOKEN; the default
token is the admin token that `marid serve` writes to `$MARID_DATA_DIR/admin-token`
(`var/admin-token`).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import secrets
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
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


async def bench(args: argparse.Namespace) -> int:
    run = secrets.token_hex(3)
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(
        base_url=args.url, headers=headers, limits=limits, timeout=30.0
    ) as client:
        me = await client.get("/api/user")
        if me.status_code != 200:
            print(f"bench: GET /api/user answered {me.status_code}: {me.text}", file=sys.stderr)
            return 2
        username = me.json()["username"]
        print(f"marid bench against {args.url} as {username}: run {run}, {args.clients} clients")

        created: list[str] = []

        async def create(i: int) -> httpx.Response:
            name = f"b{run}n{i}"
            response = await client.post("/api/namespaces", json={"name": name})
            if response.status_code == 201:
                created.append(name)
            return response

        async def list_page(i: int) -> httpx.Response:
            return await client.get("/api/namespaces", params={"page": 1 + i % 4})

        creates = await run_phase(
            "namespace create", args.clients, args.creates, args.max_seconds, create
        )
        lists = await run_phase(
            "namespace list", args.clients, args.lists, args.max_seconds, list_page
        )
        print(creates.line(201))
        print(lists.line(200))

        if not args.keep:
            deleted = await run_phase(
                "cleanup",
                args.clients,
                len(created),
                args.max_seconds * 4,
                lambda i: client.delete(f"/api/n/{username}/{created[i]}"),
            )
            print(f"cleanup: deleted {deleted.statuses[204]} of {len(created)} namespaces")
    ok = set(creates.statuses) <= {201} and set(lists.statuses) <= {200}
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("MARID_BENCH_URL") or DEFAULT_URL)
    parser.add_argument("--token", default=os.environ.get("MARID_BENCH_TOKEN") or None)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--creates", type=int, default=400, help="create requests (400)")
    parser.add_argument("--lists", type=int, default=1000, help="list requests (1000)")
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="time limit of each phase (60)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the namespaces created")
    args = parser.parse_args(argv)
    args.url = args.url.rstrip("/")
    args.token = args.token or default_token()
    if not args.token:
        parser.error("no token: pass --token, set MARID_BENCH_TOKEN, or start `marid serve` once")
    if not (
        1 <= args.clients <= 256 and 1 <= args.creates <= 100_000 and 1 <= args.lists <= 1_000_000
    ):
        parser.error("clients must be 1-256, creates 1-100000, lists 1-1000000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    loopback_only(args.url)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
