"""Event-store append against its ceiling: marid's own application saving one small
aggregate per save from 16 threads, alternating with pgbench inserting one event-shaped row
per transaction from 16 clients, on a scratch database of their own.

    python bench/append.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

The URL names the server (loopback only) and a database to connect to for creating and
dropping the scratch database `marid_append_<run id>`; nothing else is touched.
`ceilings.py` runs the same rounds among its other comparisons.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from loadtools import Pgbench
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PGBENCH_TABLE = "pgbench_events"


def loopback_database(url: str) -> None:
    host = str(conninfo_to_dict(url).get("host") or "localhost")
    if host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("/"):
        raise SystemExit(f"bench: {host} is not a loopback address; refusing to write to it")


@contextmanager
def scratch_database(url: str, name: str) -> Iterator[str]:
    """A new database on `url`'s server, dropped afterwards; yields its URL."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(url, dbname=name)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass
class AppendBench:
    """marid's application wired to a scratch database, and pgbench's table beside it."""

    url: str
    directory: Path
    run: str = field(default_factory=lambda: secrets.token_hex(3))

    def __post_init__(self) -> None:
        from infrastructure.bootstrap import bootstrap  # slow to import: only when used
        from infrastructure.settings import Settings

        self.marid = bootstrap(Settings(database_url=self.url, data_dir=self.directory))
        self.marid.migrate()
        self.rounds = 0
        self.pgbench = self._pgbench_table()

    def _pgbench_table(self) -> Pgbench:
        """pgbench's table has the shape of marid's events table; its row is the state and
        topic of an event marid's application just saved."""
        self.append(1, 0.01)
        table = sql.Identifier(PGBENCH_TABLE)
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                f"SELECT topic, encode(state, 'hex') FROM {self.marid.app.name.lower()}_events "
                "ORDER BY notification_id DESC LIMIT 1"
            ).fetchone()
            assert row is not None
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint "
                    "NOT NULL, topic text, state bytea, notification_id bigserial, "
                    "PRIMARY KEY (originator_id, originator_version))"
                ).format(table)
            )
            conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (notification_id)").format(table))
        params = conninfo_to_dict(self.url)
        return Pgbench(
            host=str(params.get("host") or "127.0.0.1"),
            port=str(params.get("port") or "5432"),
            user=str(params.get("user") or "postgres"),
            dbname=str(params["dbname"]),
            table=PGBENCH_TABLE,
            topic=row[0],
            state_hex=row[1],
        )

    def append(self, threads: int, seconds: float) -> float:
        """Saves per second: `threads` threads, each saving a new `Index` aggregate (one
        `Claimed` event) per save through the application, for `seconds`."""
        from domain.index import Index
        from domain.origin import Origin

        app = self.marid.app
        origin = Origin.system("bench")
        self.rounds += 1
        prefix = f"{self.run}-{self.rounds}"
        counts = [0] * threads
        failures: list[BaseException] = []
        start = threading.Barrier(threads + 1)

        def saver(i: int) -> None:
            start.wait()
            n = 0
            try:
                while time.perf_counter() < deadline:
                    app.save(Index(kind="bench", key=f"{prefix}-{i}-{n}", holder=n, origin=origin))
                    n += 1
            except BaseException as exc:
                failures.append(exc)
            counts[i] = n

        workers = [threading.Thread(target=saver, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        began = time.perf_counter()
        deadline = began + seconds
        start.wait()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        if failures:
            raise RuntimeError(f"{len(failures)} saving threads failed: {failures[0]!r}")
        return sum(counts) / elapsed

    def pgbench_round(self, clients: int, seconds: float) -> float:
        env = dict(os.environ)
        password = conninfo_to_dict(self.url).get("password")
        if password:
            env["PGPASSWORD"] = str(password)
        return self.pgbench.run(self.directory, seconds=seconds, clients=clients, env=env)

    def close(self) -> None:
        self.marid.close()


@dataclass
class AppendFigures:
    appends: list[float] = field(default_factory=list)
    pgbench: list[float] = field(default_factory=list)


def alternate(bench: AppendBench, rounds: int, seconds: float, clients: int) -> AppendFigures:
    """`rounds` pairs of runs, marid's append first in each, so both see the same load."""
    figures = AppendFigures()
    for i in range(1, rounds + 1):
        figures.appends.append(bench.append(clients, seconds))
        print(f"  append round {i}: marid {figures.appends[-1]:8.1f} saves/s", flush=True)
        figures.pgbench.append(bench.pgbench_round(clients, seconds))
        print(f"  append round {i}: pgbench {figures.pgbench[-1]:6.1f} tx/s", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="per run (5)")
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args(argv)
    loopback_database(args.database_url)
    run = secrets.token_hex(3)
    with (
        tempfile.TemporaryDirectory(prefix="marid-append-") as tmp,
        scratch_database(args.database_url, f"marid_append_{run}") as url,
    ):
        bench = AppendBench(url, Path(tmp), run)
        try:
            figures = alternate(bench, args.rounds, args.seconds, args.clients)
        finally:
            bench.close()
    append, ceiling = statistics.mean(figures.appends), statistics.mean(figures.pgbench)
    print(f"append {append:.1f} saves/s, pgbench {ceiling:.1f} tx/s: {append / ceiling:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
