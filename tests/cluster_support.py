"""A marid cluster of real processes for the multi-node test: each process has its own data
directory and shares one database and one S3 bucket with the others, as on separate
machines. Every process names itself to PostgreSQL (`PGAPPNAME`), so that its connections
can be counted."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from infrastructure.database import with_database
from tests.conftest import SECRET_KEY
from tests.worker_support import free_port, until

MARID = str(Path(sys.executable).with_name("marid"))
START_TIMEOUT = 60.0  # seven Python processes importing marid at once on two cores
STOP_TIMEOUT = 20.0


@contextmanager
def fresh_database(pg_server: str) -> Iterator[str]:
    """A database of its own, empty (no tables: the processes create them), dropped after."""
    name = f"marid_cluster_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    try:
        yield with_database(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Node:
    """One `marid` process of the cluster; its output goes to a file (no pipe to fill)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], directory: Path) -> None:
        self.name = name
        self.args = args
        self.data_dir = directory / name
        self.data_dir.mkdir(mode=0o755)
        self.log = directory / f"{name}.log"
        self.port = free_port() if args[0] == "serve" else None
        self.url = f"http://127.0.0.1:{self.port}" if self.port else ""
        port = ["--port", str(self.port)] if self.port else []
        env = {**env, "MARID_DATA_DIR": str(self.data_dir), "PGAPPNAME": f"marid-{name}"}
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [MARID, *args, *port], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text()

    def ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")
        if not self.port:
            return "Ctrl-C stops" in self.output()
        try:
            return httpx.get(f"{self.url}/version", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine dies."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Cluster:
    """Starts nodes with a shared environment; stops them all and prints their output."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        base = {k: v for k, v in os.environ.items() if not k.startswith("MARID_")}
        self.env = {**base, "MARID_SECRET_KEY": SECRET_KEY, **env}
        self.nodes: dict[str, Node] = {}
        self.clients: list[httpx.Client] = []  # closed with the nodes

    def start(self, *specs: tuple[str, list[str]]) -> list[Node]:
        """Start the (name, arguments) nodes at once; return when every one is ready."""
        started = [self._start(name, args) for name, args in specs]
        for node in started:
            until(node.ready, START_TIMEOUT, f"{node.name} to start", interval=0.2)
        return started

    def _start(self, name: str, args: list[str]) -> Node:
        assert name not in self.nodes
        node = Node(name, args, self.env, self.directory)
        self.nodes[name] = node
        return node

    def cli(self, *args: str) -> str:
        """stdout of a one-shot `marid` command that must succeed."""
        env = {**self.env, "MARID_DATA_DIR": str(self.directory / "cli"), "PGAPPNAME": "cli"}
        result = subprocess.run(
            [MARID, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"marid {' '.join(args)}: {result.stderr}"
        return result.stdout

    def stop_all(self) -> dict[str, int]:
        """Stop every node still running (SIGTERM); their exit statuses."""
        for client in self.clients:
            client.close()
        codes = {}
        for name, node in self.nodes.items():
            if node.process.poll() is None:
                codes[name] = node.stop()
        return codes

    def print_output(self) -> None:
        for node in self.nodes.values():
            print(f"--- output of {node.name} (marid {' '.join(node.args)}) ---")
            print(node.output())


def connections(database: str) -> dict[str, int]:
    """Connections to the cluster's database by process name (`PGAPPNAME`)."""
    with psycopg.connect(database, autocommit=True, application_name="counter") as conn:
        rows = conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "GROUP BY application_name"
        ).fetchall()
    return {str(name): int(count) for name, count in rows}


def settled_connections(database: str, names: list[str], quiet: float = 2.0) -> dict[str, int]:
    """Connections per node once the counts stop changing for `quiet` seconds (idle)."""
    last: dict[str, int] = {}
    since = time.monotonic()
    deadline = since + 30
    while time.monotonic() < deadline:
        counts = connections(database)
        now = {name: counts.get(f"marid-{name}", 0) for name in names}
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.2)
    return last
