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
import os
import secrets
import sys

import httpx
from common import DEFAULT_URL, default_token, loopback_only, run_phase


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
