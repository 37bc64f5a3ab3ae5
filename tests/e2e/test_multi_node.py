"""Seven marid processes as on separate machines: two `marid serve --api-only`, one `marid
projections run`, two `marid worker`s and two `marid scheduler`s, each with its own data
directory, on one fresh database and one S3 bucket. Objects cross nodes, builds and crons
run exactly once, and SIGKILLing a worker mid-build, the projections runner or an API node
mid-upload loses nothing and doubles nothing (`marid projections verify` at the end)."""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from domain.origin import Origin
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import Settings
from tests.cluster_support import Cluster, Node, fresh_database, settled_connections
from tests.conftest import SECRET_KEY
from tests.s3_support import S3
from tests.worker_support import manifest, shared_dir, sleepers, until

pytestmark = pytest.mark.e2e

BINARY = "application/octet-stream"
CONTENT = bytes(i % 251 for i in range(300_000))
BUDGET = 12  # connections one idle process may hold (README: six fit max_connections=100)
CRON = manifest([{"stage": "s", "name": "tick", "commands": ["true"]}])
SLEEP = "sleep 60.917"  # a job's unique command line, to find and kill it


@pytest.fixture
def database(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture
def cluster(database: str, s3: S3, tmp_path: Path) -> Iterator[Cluster]:
    """Processes on `database` and the `s3` bucket (its AWS_* variables are inherited)."""
    with shared_dir() as shared:  # build directories the os driver's build user can reach
        made = Cluster(
            tmp_path,
            {
                "MARID_DATABASE_URL": database,
                "MARID_BLOB_URL": s3.url("cluster"),
                "MARID_DRIVERS": "os",
                "MARID_OS_ALLOW_SAME_USER": "true",  # ignored as root (CI): the build user
                "TMPDIR": str(shared),
            },
        )
        try:
            yield made
        finally:
            made.stop_all()
            for pid in sleepers(SLEEP):  # only if the test failed before its end
                os.kill(pid, signal.SIGKILL)
            made.print_output()


class Api:
    """An HTTP client of one API node, as alice."""

    def __init__(self, cluster: Cluster, node: Node, token: str) -> None:
        self.node = node
        self.http = httpx.Client(
            base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        cluster.clients.append(self.http)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == status, (self.node.name, path, response.text)
        return response

    def submit(self, text: str) -> dict[str, Any]:
        body: dict[str, Any] = self.ok("POST", "/api/builds", 201, json={"manifest": text}).json()
        return body

    def build(self, number: int) -> dict[str, Any]:
        body: dict[str, Any] = self.ok("GET", f"/api/b/alice/{number}").json()
        return body

    def finished(self, number: int, timeout: float = 60) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            body = self.build(number)
            return None if body["status"] in ("queued", "running") else body

        result: dict[str, Any] = until(ended, timeout, f"build {number} to end", interval=0.2)
        return result


def event_counts(database: str) -> dict[str, int]:
    """How many events of each kind the log holds, by the last part of their topic."""
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT topic, count(*) FROM marid_events GROUP BY topic").fetchall()
    return {str(topic).rsplit(":", 1)[-1]: int(n) for topic, n in rows}


def cron_dues(database: str) -> list[datetime]:
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT due FROM cron_builds ORDER BY due").fetchall()
    return [row[0] for row in rows]


def create_overdue_cron(database: str, data_dir: Path, blob_url: str, user_id: int) -> int:
    """An every-minute cron created as if a day ago: its first due time has long passed, so
    the schedulers fire it at once (then every minute, on the real clock)."""
    settings = Settings(
        database_url=database, data_dir=data_dir, secret_key=SECRET_KEY, pool_size=2,
        blob_url=blob_url, run_scheduler=False, run_webhooks=False,
    )  # fmt: skip
    marid = bootstrap(settings, clock=lambda: datetime.now(UTC) - timedelta(days=1))
    try:
        origin = Origin.user(user_id)
        outcome = marid.app.create_cron(
            user_id, "minutely", "* * * * *", "UTC", CRON, ("os",), origin
        )
        return outcome.value
    finally:
        marid.close()


def abandoned_upload(node: Node, token: str) -> None:
    """Start an object upload to `node` and SIGKILL the node halfway through its body."""
    with socket.create_connection(("127.0.0.1", node.port or 0), timeout=10) as sock:
        sock.sendall(
            b"POST /api/objects?name=half HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"
            + b"x"
            * 100_000
        )
        node.kill()


def test_seven_processes_on_one_database_and_one_bucket(
    cluster: Cluster, database: str, s3: S3
) -> None:
    # The processes that crashed each other on a fresh database start together.
    api_a, api_b, _ = cluster.start(
        ("api-a", ["serve", "--api-only"]),
        ("api-b", ["serve", "--api-only"]),
        ("projections", ["projections", "run"]),
    )
    names = ["worker-1", "worker-2"]
    cluster.start(
        *[(n, ["worker", "--name", n, "--lease", "2s", "--parallelism", "1"]) for n in names]
    )
    cluster.start(("scheduler-1", ["scheduler"]), ("scheduler-2", ["scheduler"]))
    idle = settled_connections(database, list(cluster.nodes))
    print(f"idle connections: {idle}")
    with psycopg.connect(database) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
        reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])  # type: ignore[index]

    user_id = int(
        cluster.cli("users", "create", "alice", "--email", "alice@example.com").split()[-1]
    )
    token = cluster.cli("tokens", "create", "alice").strip().split()[-1]
    a, b = Api(cluster, api_a, token), Api(cluster, api_b, token)

    # Objects stored through one node are read through the other, whole and by Range.
    stored = a.ok("POST", "/api/objects", 201, params={"name": "data"}, content=CONTENT,
                  headers={"Content-Type": BINARY}).json()  # fmt: skip
    other = b.ok("POST", "/api/objects", 201, params={"name": "more"}, content=CONTENT[::-1],
                 headers={"Content-Type": BINARY}).json()  # fmt: skip
    accept = {"Accept": BINARY}
    assert b.ok("GET", f"/api/objects/{stored['id']}", headers=accept).content == CONTENT
    ranged = b.ok("GET", f"/api/objects/{stored['id']}", 206,
                  headers={**accept, "Range": "bytes=150000-150099"})  # fmt: skip
    assert ranged.content == CONTENT[150000:150100]
    assert a.ok("GET", f"/api/objects/{other['id']}", headers=accept).content == CONTENT[::-1]

    # Two builds at once, one worker each (parallelism 1); each runs once and passes.
    first = a.submit(manifest([{"stage": "s", "name": "j", "commands": ["sleep 3", "echo one"]}]))
    second = b.submit(manifest([{"stage": "s", "name": "j", "commands": ["sleep 3", "echo two"]}]))
    assert a.finished(first["number"])["status"] == "passed"
    assert b.finished(second["number"])["status"] == "passed"
    for name in names:
        assert "claimed build" in cluster.nodes[name].output(), name

    # An overdue cron: the two schedulers fire its due time once between them.
    cron_id = create_overdue_cron(database, cluster.directory / "cron", s3.url("cluster"), user_id)
    until(lambda: len(cron_dues(database)) >= 1, 30, "the overdue cron to fire")

    # The projections runner dies: a scheduler's runners take the read models over.
    cluster.nodes["projections"].kill()
    a.ok("POST", "/api/namespaces", 201, json={"name": "afterrunner"})
    assert b.ok("GET", "/api/n/alice/afterrunner").json()["name"] == "afterrunner"

    # A worker dies mid-build: the other reruns the build once its lease has run out.
    mark = Path(cluster.env["TMPDIR"]) / "first-run"
    script = f"if [ -e {mark} ]; then echo second run; else touch {mark}; {SLEEP}; fi"
    killed = a.submit(manifest([{"stage": "s", "name": "job", "commands": [script]}]))
    until(lambda: sleepers(SLEEP), 30, "the first run's job to start")
    claim = re.compile(rf"claimed build {killed['id']}\b")
    holder = next(n for n in names if claim.search(cluster.nodes[n].output()))
    cluster.nodes[holder].kill()
    until(lambda: not sleepers(SLEEP), 10, "the dead worker's job to end")  # its lifeline
    rerun = a.finished(killed["number"])
    assert rerun["status"] == "passed"
    assert "orphaned" in rerun["tags"]

    # An API node dies halfway through an upload: nothing of it is stored; node A serves on.
    abandoned_upload(api_b, token)
    listed = [o["name"] for o in a.ok("GET", "/api/objects").json()]
    assert sorted(listed) == ["data", "more"]
    assert a.ok("GET", f"/api/objects/{other['id']}", headers=accept).content == CONTENT[::-1]
    last = a.submit(manifest([{"stage": "s", "name": "j", "commands": ["echo after"]}]))
    assert a.finished(last["number"])["status"] == "passed"

    # The cron's next due time, on the real clock: fired once more by one scheduler.
    until(lambda: len(cron_dues(database)) >= 2, 75, "the cron's next minute")
    head = a.ok("GET", "/api/builds", params={"per_page": 100}).json()
    for build in head:
        assert a.finished(build["number"])["status"] == "passed", build

    codes = cluster.stop_all()
    verified = cluster.cli("projections", "verify")
    counts = event_counts(database)
    dues = cron_dues(database)
    builds = 4 + len(dues)

    assert all(n <= BUDGET for n in idle.values()), idle
    assert sum(idle.values()) <= limit - reserved, (idle, limit)
    assert limit - reserved >= 6 * BUDGET  # six processes fit a default PostgreSQL
    assert codes == dict.fromkeys(codes, 0), codes  # every survivor stops cleanly
    assert set(codes) == {
        "api-a",
        "scheduler-1",
        "scheduler-2",
        next(n for n in names if n != holder),
    }
    assert "differ" not in verified, verified
    assert len(dues) == len(set(dues))  # each due time fired once
    assert counts["Build.Submitted"] == builds, counts
    assert counts["Build.Claimed"] == builds + 1, counts  # the killed worker's build twice
    assert counts["Build.Orphaned"] == 1, counts
    assert counts["Build.Finished"] == builds, counts
    assert cron_id > 0
