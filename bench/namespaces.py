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
import secrets

import httpx
from common import exit_status, main, run_phase, signed_in


async def bench(args: argparse.Namespace) -> int:
    run = secrets.token_hex(3)
    async with signed_in(args, run, 30.0) as (client, username):
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
        status = exit_status((creates, 201), (lists, 200))
        if not args.keep:
            deleted = await run_phase(
                "cleanup",
                args.clients,
                len(created),
                args.max_seconds * 4,
                lambda i: client.delete(f"/api/n/{username}/{created[i]}"),
            )
            print(f"cleanup: deleted {deleted.statuses[204]} of {len(created)} namespaces")
    return status


COUNTS = {
    "creates": (400, 100_000, "create requests"),
    "lists": (1000, 1_000_000, "list requests"),
}


if __name__ == "__main__":
    raise SystemExit(main(bench, __doc__, COUNTS))
