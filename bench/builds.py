"""Build throughput of a running marid: submissions per second and build-list reads per second.

Runs against a server on this machine only (loopback), with a bounded number of requests
and a time limit per phase. Builds go into a namespace of their own per run and use the
`os` driver (enabled by default); they stay queued unless a worker runs them. Unless
`--keep` is given, the run's namespace is deleted afterwards (its builds stay, detached).

    python bench/builds.py [--url URL] [--token TOKEN] [--clients 16]
"""

from __future__ import annotations

import argparse
import secrets

import httpx
from common import exit_status, main, run_phase, signed_in

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
    async with signed_in(args, run, 60.0) as (client, username):
        body = {"manifest": MANIFEST.format(namespace=namespace), "tags": ["bench", run]}

        async def submit(i: int) -> httpx.Response:
            return await client.post("/api/builds", json={**body, "comment": f"bench {i}"})

        async def list_page(i: int) -> httpx.Response:
            return await client.get("/api/builds", params={"page": 1 + i % 4, "tag": run})

        submits = await run_phase(
            "build submit", args.clients, args.submits, args.max_seconds, submit
        )
        lists = await run_phase("build list", args.clients, args.lists, args.max_seconds, list_page)
        status = exit_status((submits, 201), (lists, 200))
        if not args.keep:
            await client.delete(f"/api/n/{username}/{namespace}")
    return status


COUNTS = {
    "submits": (200, 100_000, "submissions"),
    "lists": (500, 1_000_000, "list requests"),
}


if __name__ == "__main__":
    raise SystemExit(main(bench, __doc__, COUNTS))
