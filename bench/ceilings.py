"""marid against the ceilings of its own stack, in one run on this machine (issue 19).

Starts a `marid serve` on a fresh database of its own (or uses `--url`/`--token`), seeds
namespaces, starts the hello-world app (`hello.py`: same Litestar, same uvicorn settings,
marid's bodies from memory), and drives both with wrk, alternating round by round so both
see the same load from whatever else runs on the machine:
- the namespace list (16 connections), the namespace create (16 connections, a new name
  per request), and one client's sequential latency of list, create and `GET /api/user`;
- the build-submit figure of `builds.py` (httpx; cheap, so always run unless skipped);
- a verified rebuild of the namespaces read model over the run's own events;
- event-store appends through marid's application (16 threads, one small aggregate per
  save) against pgbench inserting one event-shaped row per transaction (16 clients).
Prints every round, then one table: path, marid, ceiling, ratio, and the issue's goal.
Longer than 300 lines on purpose: the one run's sequence (start, seed, alternate rounds,
tear down) reads top to bottom here; running wrk and pgbench and the table are in
`loadtools` and `report`.

    python bench/ceilings.py [--seconds 5] [--rounds 3] [--database-url URL]   (`make bench`)
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from append import (
    DEFAULT_DATABASE_URL,
    AppendBench,
    alternate,
    loopback_database,
    scratch_database,
)
from common import default_token, loopback_only
from loadtools import HERE, WrkRun, wrk
from report import Figures, Pair, table

BIN = Path(sys.executable).parent
MARID_ENV = {
    "MARID_LOG_LEVEL": "WARNING",
    "MARID_RATE_LIMIT": "0",
    "MARID_RUN_WORKER": "false",
    "MARID_RUN_SCHEDULER": "false",
    "MARID_RUN_WEBHOOKS": "false",
}
PRODUCTION = ("domain", "application", "projections", "infrastructure", "api", "ops")
SEED = 100  # namespaces before the list rounds: pages 1-4 hold 25 rows each


@dataclass
class Server:
    """A process this run started, its URL and its log."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait_ready(self, token: str, seconds: float = 180.0) -> None:
        """Until `GET /api/user` answers 200 (marid writes its token first)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: {self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                headers = {"Authorization": f"Bearer {token}"}
                if httpx.get(f"{self.url}/api/user", headers=headers).status_code == 200:
                    return
            except (httpx.HTTPError, OSError):
                pass
            time.sleep(0.3)
        raise SystemExit(f"bench: {self.name} not ready in {seconds:.0f} s: see {self.log}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, argv: list[str], env: dict[str, str], tmp: Path, port: int) -> Server:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 -- our own programs
    return Server(name, process, f"http://127.0.0.1:{port}", log)


def start_marid(database_url: str, data_dir: Path, tmp: Path) -> tuple[Server, str]:
    """`marid serve` on a fresh database, as issue 19 measured it; its admin token."""
    port = free_port()
    env = {**os.environ, **MARID_ENV, "MARID_DATABASE_URL": database_url}
    env["MARID_DATA_DIR"] = str(data_dir)
    marid = start("marid", [str(BIN / "marid"), "serve", "--port", str(port)], env, tmp, port)
    token_file = data_dir / "admin-token"
    deadline = time.monotonic() + 180
    while not token_file.exists() and marid.process.poll() is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: marid wrote no token: see {marid.log}")
        time.sleep(0.3)
    token = token_file.read_text().strip() if token_file.exists() else ""
    marid.wait_ready(token)
    return marid, token


def seed(url: str, token: str, prefix: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60.0) as client:

        def create(i: int) -> int:
            response = client.post("/api/namespaces", json={"name": f"{prefix}n{i}"})
            return response.status_code

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(create, range(count)))
    if set(statuses) != {201}:
        raise SystemExit(f"bench: seeding answered {sorted(set(statuses))}, not only 201")


def same_page(marid: str, hello: str, token: str) -> str:
    """Check that the hello-world serves marid's page 1 byte for byte; what it is."""
    headers = {"Authorization": f"Bearer {token}"}
    pages = [
        httpx.get(f"{url}/api/namespaces", params={"page": 1}, headers=headers)
        for url in (marid, hello)
    ]
    if pages[0].content != pages[1].content:
        raise SystemExit("bench: the hello-world's page 1 differs from marid's")
    rows, size = len(pages[0].json()), len(pages[0].content)
    return f"page 1: {rows} rows, {size:,} bytes, the same bytes on both"


def rounds(
    label: str, count: int, run_marid: Callable[[int], WrkRun], run_ceiling: Callable[[int], WrkRun]
) -> Pair:
    """`count` rounds, marid first in each; round 0 is a one-second warm-up of both."""
    pair = Pair()
    run_marid(0)
    run_ceiling(0)
    for i in range(1, count + 1):
        pair.marid.append(run_marid(i))
        print(f"  {label} round {i}: marid {pair.marid[-1].line()}", flush=True)
        pair.ceiling.append(run_ceiling(i))
        print(f"  {label} round {i}: hello {pair.ceiling[-1].line()}", flush=True)
    return pair


def http_comparisons(
    marid: str, hello: str, token: str, args: argparse.Namespace, run: str
) -> dict[str, Pair]:
    auth = {"Authorization": f"Bearer {token}"}
    json = {**auth, "Content-Type": "application/json"}

    def load(url: str, script: str, connections: int, seconds: float, *extra: str) -> WrkRun:
        headers = json if script == "create.lua" else auth
        return wrk(
            url,
            seconds=seconds,
            connections=connections,
            script=script,
            script_args=extra,
            headers=headers,
        )

    def both(label: str, script: str, connections: int, seconds: float, tag: str) -> Pair:
        def on(url: str) -> Callable[[int], WrkRun]:
            def one(i: int) -> WrkRun:
                extra = (f"w{run}{tag}{i}",) if script == "create.lua" else ()
                return load(url, script, connections, seconds if i else 1, *extra)

            return one

        return rounds(label, args.rounds, on(marid), on(hello))

    c, s = args.connections, args.seconds
    return {
        "list": both("list", "list.lua", c, s, "l"),
        "create": both("create", "create.lua", c, s, "c"),
        "list 1": both("list, one client", "list.lua", 1, args.seq_seconds, "x"),
        "create 1": both("create, one client", "create.lua", 1, args.seq_seconds, "s"),
        "user 1": both("user, one client", "user.lua", 1, args.seq_seconds, "u"),
    }


def build_submits(url: str, token: str) -> float | None:
    """`builds.py`'s submit rate (16 httpx clients, one owner), or None if it failed."""
    argv = [sys.executable, str(HERE / "builds.py"), "--url", url, "--token", token]
    argv += ["--submits", "200", "--lists", "50", "--max-seconds", "30"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=180)  # noqa: S603 -- our own script
    for line in done.stdout.splitlines():
        if line.startswith("build "):
            print(f"  {line}", flush=True)
    match = re.search(r"^build submit\s+([\d.]+) req/s", done.stdout, re.MULTILINE)
    if match is None:
        print(f"  builds.py failed: {done.stderr[-500:]}", flush=True)
        return None
    return float(match[1])


def rebuild_rate(database_url: str, data_dir: Path) -> tuple[int, float]:
    """A verified rebuild of the namespaces read model (as `marid projections rebuild
    namespaces` does it): events applied and seconds."""
    from infrastructure.bootstrap import bootstrap
    from infrastructure.settings import Settings
    from projections.maintenance import rebuild
    from projections.registry import PROJECTIONS

    marid = bootstrap(Settings(database_url=database_url, data_dir=data_dir))
    try:
        began = time.perf_counter()
        applied = rebuild(marid.app, marid.datastore, *PROJECTIONS["namespaces"])
        return applied, time.perf_counter() - began
    finally:
        marid.close()


def git(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 -- git, from PATH
        ["git", "-C", str(HERE.parent), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def describe_machine(database_url: str) -> str:
    commit = git("rev-parse", "--short", "HEAD") or "?"
    changed = git("status", "--porcelain", "--", *PRODUCTION)
    if changed:
        commit += f" plus uncommitted changes to {len(changed.splitlines())} production files"
    with psycopg.connect(database_url) as conn:
        settings = conn.execute(
            "SELECT current_setting('server_version'), current_setting('fsync'), "
            "current_setting('synchronous_commit')"
        ).fetchone()
    version, fsync, sync = settings if settings else ("?", "?", "?")
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"{os.cpu_count()} cores, {platform.platform()}, CPython {platform.python_version()}, "
        f"PostgreSQL {version} (fsync {fsync}, synchronous_commit {sync})"
    )


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="a running marid instead of one of this run's own")
    parser.add_argument("--token", help="with --url: a token with every scope")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("MARID_BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="a loopback server where scratch databases may be made and dropped",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per round (5)")
    parser.add_argument("--seq-seconds", type=float, default=3.0, help="per one-client round (3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per path (3)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-builds", action="store_true", help="no builds.py figure")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10 or not 1 <= args.seconds <= 60 or not 1 <= args.seq_seconds <= 60:
        parser.error("rounds must be 1-10, seconds 1-60")
    loopback_database(args.database_url)
    if args.url:
        loopback_only(args.url)
        args.token = args.token or default_token()
        if not args.token:
            parser.error("--url needs --token (or MARID_DATA_DIR's admin-token)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = secrets.token_hex(3)
    began = time.monotonic()
    print(f"ceilings run {run}: {describe_machine(args.database_url)}", flush=True)
    print(f"load average at start: {load_average()}", flush=True)
    figures = Figures(rounds=args.rounds, seconds=args.seconds, connections=args.connections)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="marid-ceilings-")))
        database_url = None
        if args.url:
            url, token = args.url.rstrip("/"), args.token
        else:
            database_url = stack.enter_context(
                scratch_database(args.database_url, f"marid_ceilings_{run}")
            )
            marid, token = start_marid(database_url, tmp / "data", tmp)
            stack.callback(marid.stop)
            url = marid.url
        seed(url, token, f"s{run}", SEED)
        port = free_port()
        hello_argv = [sys.executable, str(HERE / "hello.py"), "--marid-url", url]
        hello_argv += ["--token", token, "--port", str(port)]
        hello = start("hello", hello_argv, dict(os.environ), tmp, port)
        stack.callback(hello.stop)
        hello.wait_ready(token, 60)
        print(f"marid at {url}, hello-world at {hello.url}; {same_page(url, hello.url, token)}")
        figures.http = http_comparisons(url, hello.url, token, args, run)
        hello.stop()
        if not args.skip_builds:
            figures.build_submits = build_submits(url, token)
        if database_url is not None:
            marid.stop()
            figures.rebuild = rebuild_rate(database_url, tmp / "data")
            print(f"  rebuild: {figures.rebuild[0]} events in {figures.rebuild[1]:.2f} s")
        with scratch_database(args.database_url, f"marid_append_{run}") as append_url:
            bench = AppendBench(append_url, tmp / "append", run)
            try:
                figures.append = alternate(bench, args.rounds, args.seconds, args.connections)
            finally:
                bench.close()
    figures.load = load_average()
    print(f"load average at end: {figures.load}; whole run {time.monotonic() - began:.0f} s\n")
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
