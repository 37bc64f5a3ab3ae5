"""Queue-to-start latency of a running marid: how long a build waits before a worker starts it.

Submits `--builds` builds (one `true` job, `os` driver) into a namespace of the run's own,
one every `--interval` seconds, waits until all have ended, and reports the median and p95
of `started_at - created_at` as the API gives them (both stamped by the server, so the
client's clock does not matter). With `--interval 0` all are submitted at once and the
figure includes waiting for a free worker slot. Unless `--keep` is given, the run's
namespace is deleted afterwards (its builds stay, detached).

    python bench/queue_latency.py [--url URL] [--token TOKEN] [--builds 100] [--interval 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from datetime import datetime

import httpx
from common import base_parser, parse_common, percentile, run

MANIFEST = """namespace: {namespace}
driver:
  type: os
stages: [test]
jobs:
- stage: test
  commands:
  - "true"
"""
FINISHED = {"passed", "passed_with_failures", "failed", "killed", "timed_out"}


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def submit_all(
    client: httpx.AsyncClient, body: dict[str, object], count: int, interval: float
) -> list[int]:
    """Submit `count` builds `interval` seconds apart; their numbers."""
    numbers = []
    for i in range(count):
        response = await client.post("/api/builds", json={**body, "comment": f"latency {i}"})
        if response.status_code != 201:
            raise SystemExit(f"bench: submit answered {response.status_code}: {response.text}")
        numbers.append(response.json()["number"])
        if interval:
            await asyncio.sleep(interval)
    return numbers


async def wait_for_all(
    client: httpx.AsyncClient, username: str, numbers: list[int], deadline: float
) -> dict[int, dict[str, object]]:
    """Poll until every build has ended or the deadline passes; the builds seen last."""
    builds: dict[int, dict[str, object]] = {}
    pending = list(numbers)
    while pending and time.monotonic() < deadline:
        for number in list(pending):
            response = await client.get(f"/api/b/{username}/{number}")
            body = response.json()
            builds[number] = body
            if body["status"] in FINISHED:
                pending.remove(number)
        if pending:
            await asyncio.sleep(0.5)
    return builds


async def bench(args: argparse.Namespace) -> int:
    run_id = secrets.token_hex(3)
    namespace = f"latency{run_id}"
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=60.0) as client:
        me = await client.get("/api/user")
        if me.status_code != 200:
            print(f"bench: GET /api/user answered {me.status_code}: {me.text}", file=sys.stderr)
            return 2
        username = me.json()["username"]
        print(
            f"marid queue latency against {args.url} as {username}: run {run_id}, "
            f"{args.builds} builds, one every {args.interval} s"
        )
        body = {"manifest": MANIFEST.format(namespace=namespace), "tags": ["bench", run_id]}
        deadline = time.monotonic() + args.max_seconds
        numbers = await submit_all(client, body, args.builds, args.interval)
        builds = await wait_for_all(client, username, numbers, deadline)
        if not args.keep:
            await client.delete(f"/api/n/{username}/{namespace}")
    latencies = [
        (stamp(str(b["started_at"])) - stamp(str(b["created_at"]))).total_seconds()
        for b in builds.values()
        if b.get("started_at")
    ]
    ended = sum(1 for b in builds.values() if b["status"] in FINISHED)
    passed = sum(1 for b in builds.values() if b["status"] == "passed")
    if latencies:
        print(
            f"queue-to-start   p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
            f"({len(latencies)} started, {ended} ended, {passed} passed)"
        )
    else:
        print("queue-to-start   no build started: is a worker running?")
    return 0 if passed == len(numbers) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__)
    parser.add_argument("--builds", type=int, default=100, help="builds to submit (100)")
    parser.add_argument(
        "--interval", type=float, default=0.2, help="seconds between submits (0.2; 0 = burst)"
    )
    args = parse_common(parser, argv, {"builds": 10_000})
    if not 0 <= args.interval <= 60:
        parser.error("interval must be 0-60 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    return run(bench, parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
