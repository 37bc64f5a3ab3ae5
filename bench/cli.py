"""CLI start-up: the wall time of each `marid` command, against `python -c pass`.

Runs each command `--runs` times (default 5) against `MARID_DATABASE_URL` and prints the
median; the database must be loopback. It creates one user (`bench<run id>`) and tokens.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 -- our own commands
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (5)")
    args = parser.parse_args(argv)
    url = os.environ.get("MARID_DATABASE_URL")
    if not url:
        parser.error("set MARID_DATABASE_URL (a loopback database the bench may write to)")
    host = str(conninfo_to_dict(url).get("host") or "localhost")
    if host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("/"):
        parser.error(f"{host} is not a loopback address; refusing to write to it")
    if not 1 <= args.runs <= 50:
        parser.error("runs must be 1-50")
    env = dict(os.environ)
    user = f"bench{secrets.token_hex(3)}"
    marid = str(BIN / "marid")
    subprocess.run(  # noqa: S603 -- our own command
        [marid, "users", "create", user, "--email", f"{user}@example.com"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    commands = [
        [sys.executable, "-c", "pass"],
        [marid, "--version"],
        [marid, "--help"],
        [marid, "users", "list"],
        [marid, "tokens", "create", user],
        [marid, "tokens", "list", user],
        [marid, "audit", "--limit", "20"],
        [marid, "projections", "status"],
    ]
    for command in commands:
        name = "python -c pass (floor)" if command[0] == sys.executable else " ".join(command[1:])
        try:
            seconds = timed(command, env, args.runs)
        except subprocess.CalledProcessError as exc:
            print(f"{name:<28} failed with status {exc.returncode}")
            continue
        print(f"{name:<28} {seconds * 1000:7.0f} ms  (median of {args.runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
