"""Build throughput of a running marid: submissions per second and build-list reads per second.

Runs against a server on this machine only (loopback), with a bounded number of requests
and a time limit per phase. Builds go into a namespace of their own per run and use the
`os` driver (enabled by default); they stay queued unless a worker runs them. Unless
`--keep` is given, the run's namespace is deleted afterwards (its builds stay, detached).

    python bench/builds.py [--url URL] [--token TOKEN] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys

import httpx
from common import DEFAULT_URL, default_token, loopback_only, run_phase

MANIFEST = """namespace: {namespace}
driver:
  type: os
env:
- GREETING=hello
stages: [test]
jobs:
- stage: test
  commands:
  - echo "$GREETING"
  artifacts:
  - out.txt
"""


async def bench(args: argparse.Namespace) -> int:
    run = secrets.token_hex(3)
    namespace = f"bench{run}"
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(
        base_url=args.url, headers=headers, limits=limits, timeout=60.0
    ) as client:
        me = await client.get("/api/user")
        if me.status_code != 200:
            print(f"bench: GET /api/user answered {me.status_code}: {me.text}", file=sys.stderr)
            return 2
        username = me.json()["username"]
        print(f"marid bench against {args.url} as {username}: run {run}, {args.clients} clients")
        body = {"manifest": MANIFEST.format(namespace=namespace), "tags": ["bench", run]}

        async def submit(i: int) -> httpx.Response:
            return await client.post("/api/builds", json={**body, "comment": f"bench {i}"})

        async def list_page(i: int) -> httpx.Response:
            return await client.get("/api/builds", params={"page": 1 + i % 4, "tag": run})

        submits = await run_phase(
            "build submit", args.clients, args.submits, args.max_seconds, submit
        )
        lists = await run_phase("build list", args.clients, args.lists, args.max_seconds, list_page)
        print(submits.line(201))
        print(lists.line(200))
        if not args.keep:
            await client.delete(f"/api/n/{username}/{namespace}")
    ok = set(submits.statuses) <= {201} and set(lists.statuses) <= {200}
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("MARID_BENCH_URL") or DEFAULT_URL)
    parser.add_argument("--token", default=os.environ.get("MARID_BENCH_TOKEN") or None)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--submits", type=int, default=200, help="submissions (200)")
    parser.add_argument("--lists", type=int, default=500, help="list requests (500)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="limit per phase (60)")
    parser.add_argument("--keep", action="store_true", help="keep the run's namespace")
    args = parser.parse_args(argv)
    args.url = args.url.rstrip("/")
    args.token = args.token or default_token()
    if not args.token:
        parser.error("no token: pass --token, set MARID_BENCH_TOKEN, or start `marid serve` once")
    if not (
        1 <= args.clients <= 256 and 1 <= args.submits <= 100_000 and 1 <= args.lists <= 1_000_000
    ):
        parser.error("clients must be 1-256, submits 1-100000, lists 1-1000000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    loopback_only(args.url)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
