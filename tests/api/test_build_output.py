"""A build's run over HTTP: status, times and `output` in the JSON, a job's output as text
and as server-sent events, and artifact downloads.

No worker runs: a `FakeWorker` issues the worker's commands (`claim_build`, `start_job`,
...) and writes output and artifact files through the same stores a worker uses.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn

from api import build_output
from api.app import create_app
from application.execution import RunPlan
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.api.test_builds import build
from tests.conftest import Users
from tests.helpers import (
    RFC3339_Z,
    Auth,
    Client,
    add_collaborator,
    assert_lacks_scope,
    assert_not_found,
    create_ns,
    token,
)

WORKER = Origin.system("worker:test")
LEASE = timedelta(minutes=5)
OUTPUT = "/api/b/alice/1/jobs/test.1/output"
EVENTS = {"Accept": "text/event-stream"}
BINARY = {"Accept": "application/octet-stream"}
APP_BYTES = b"\x7fELF\x00binary" * 100
REPORT = "ok: 3 tests\n"


@dataclass
class FakeWorker:
    """Drives one build as a worker would, through the application and the stores."""

    marid: Marid
    build_id: int
    plan: RunPlan = field(init=False)

    def __post_init__(self) -> None:
        plan = self.marid.app.claim_build(self.build_id, "test", LEASE, WORKER)
        assert plan.value is not None
        self.plan = self.marid.settle(plan)

    @property
    def claim(self) -> str:
        return self.plan.claim

    def job(self, name: str) -> int:
        return next(job.id for job in self.plan.jobs if job.name == name)

    def start(self, name: str) -> None:
        app = self.marid.app
        self.marid.settle(app.start_job(self.build_id, self.claim, self.job(name), WORKER))

    def finish(self, name: str, status: str = "passed") -> None:
        app = self.marid.app
        outcome = app.finish_job(self.build_id, self.claim, self.job(name), status, WORKER)
        self.marid.settle(outcome)

    def write(self, name: str | None, text: str) -> int:
        """Append output to a job's log (None: the build's own log)."""
        job_id = 0 if name is None else self.job(name)
        return self.marid.build_logs.append(self.build_id, job_id, text)

    def collect(self, name: str, content: bytes | None) -> None:
        """Store an artifact's file (None: it was missing) and record it."""
        artifact = next(a for job in self.plan.jobs for a in job.artifacts if a["name"] == name)
        size = md5 = sha256 = None
        if content is not None:
            key = f"artifacts/{self.build_id}/{artifact['id']}"
            info = self.marid.blobs.put(key, iter([content]))
            size, md5, sha256 = info.size, info.md5, info.sha256
        outcome = self.marid.app.record_artifact(
            self.build_id, self.claim, artifact["id"], size, md5, sha256, WORKER
        )
        self.marid.settle(outcome)

    def end(self, status: str = "passed") -> None:
        outcome = self.marid.app.finish_build(self.build_id, self.claim, status, WORKER)
        self.marid.settle(outcome)

    def run_all(self, status: str = "passed") -> None:
        """Every job through start and finish, with output, then the end of the build."""
        self.write(None, "driver ready\n")
        for job in self.plan.jobs:
            self.start(job.name)
            self.write(job.name, f"$ {job.name}\n")
            self.finish(job.name, status)
        self.end(status)


def worker(marid: Marid, created: dict[str, Any]) -> FakeWorker:
    return FakeWorker(marid, created["id"])


def parse_events(body: str) -> list[dict[str, Any]]:
    """Server-sent events as dicts: `id`, `event`, `data` (lines joined) or `comment`."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        if not block:
            continue
        event: dict[str, Any] = {}
        data: list[str] = []
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                event["comment"] = value
            elif name == "data":
                data.append(value)
            else:
                event[name] = value
        if data:
            event["data"] = "\n".join(data)
        events.append(event)
    return events


# --- JSON: status, times, output -------------------------------------------------------------


def test_a_finished_build_shows_its_times_statuses_and_output(
    client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.run_all()

    got = client.get("/api/b/alice/1", headers=alice).json()
    jobs = client.get("/api/b/alice/1/jobs", headers=alice).json()

    assert got["status"] == "passed"
    assert got["output"] == "driver ready\n" + "".join(f"$ {j['name']}\n" for j in jobs)
    assert RFC3339_Z.match(got["started_at"])
    assert RFC3339_Z.match(got["finished_at"])
    assert got["started_at"] <= got["finished_at"]
    for job in jobs:
        assert job["status"] == "passed"
        assert job["output"] == f"$ {job['name']}\n"
        assert RFC3339_Z.match(job["started_at"])
        assert RFC3339_Z.match(job["finished_at"])
        assert job["build"] == got
    assert client.get("/api/b/alice/1/jobs/test.1", headers=alice).json() == jobs[2]


def test_output_stays_null_until_the_job_or_build_has_ended(
    client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.write(None, "creating driver\n")
    run.start("test.1")
    run.write("test.1", "half way\n")

    got = client.get("/api/b/alice/1", headers=alice).json()
    job = client.get("/api/b/alice/1/jobs/test.1", headers=alice).json()

    assert (got["status"], got["output"], got["finished_at"]) == ("running", None, None)
    assert RFC3339_Z.match(got["started_at"])
    assert (job["status"], job["output"], job["finished_at"]) == ("running", None, None)
    assert RFC3339_Z.match(job["started_at"])


def test_a_job_that_never_started_ends_with_the_build(
    client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.start("create-driver")
    run.finish("create-driver", "failed")

    run.end("failed")

    jobs = {j["name"]: j for j in client.get("/api/b/alice/1/jobs", headers=alice).json()}
    assert jobs["create-driver"]["status"] == "failed"
    assert (jobs["test.1"]["status"], jobs["test.1"]["started_at"]) == ("failed", None)
    assert (jobs["test.1"]["finished_at"], jobs["test.1"]["output"]) == (None, None)


def test_nul_characters_in_output_read_as_nul(client: Client, alice: Auth, marid: Marid) -> None:
    run = worker(marid, build(client, alice))
    run.start("test.1")
    run.write("test.1", "a\x00b\n")
    run.finish("test.1")

    job = client.get("/api/b/alice/1/jobs/test.1", headers=alice).json()
    text = client.get(OUTPUT, headers=alice).text

    assert job["output"] == "aNULb\n"
    assert text == "aNULb\n"


def test_collected_artifacts_show_size_and_digests(
    client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.collect("app", APP_BYTES)
    run.collect("reports/report.txt", None)  # the file was missing

    app = client.get("/api/b/alice/1/artifacts/app", headers=alice).json()
    report = client.get("/api/b/alice/1/artifacts/reports/report.txt", headers=alice).json()

    assert app["size"] == len(APP_BYTES)
    assert app["md5"] == hashlib.md5(APP_BYTES, usedforsecurity=False).hexdigest()
    assert app["sha256"] == hashlib.sha256(APP_BYTES).hexdigest()
    assert app["deleted_at"] is None
    assert (report["size"], report["md5"], report["sha256"]) == (None, None, None)


def test_an_orphaned_build_is_tagged_and_starts_over(
    client: Client, alice: Auth, marid: Marid
) -> None:
    created = build(client, alice)
    dead = marid.app.claim_build(created["id"], "dead", timedelta(seconds=-1), WORKER)
    marid.settle(dead)
    assert dead.value is not None
    marid.settle(
        marid.app.start_job(created["id"], dead.value.claim, dead.value.jobs[0].id, WORKER)
    )

    FakeWorker(marid, created["id"])

    got = client.get("/api/b/alice/1", headers=alice).json()
    jobs = client.get("/api/b/alice/1/jobs", headers=alice).json()
    assert got["status"] == "running"
    assert got["tags"] == ["orphaned"]
    assert {(j["status"], j["started_at"]) for j in jobs} == {("queued", None)}
    tag = client.get("/api/b/alice/1/tags/orphaned", headers=alice).json()
    assert tag["user"]["username"] == "alice"


# --- kill (CONTRACT: queued now, running by its worker, finished: nothing) -------------------


def test_killing_a_running_build_leaves_it_to_its_worker(
    client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.start("create-driver")

    response = client.delete("/api/b/alice/1", headers=alice)
    still = client.get("/api/b/alice/1", headers=alice).json()["status"]
    asked = marid.settle(marid.app.renew_lease(run.build_id, run.claim, LEASE, WORKER))
    run.end("killed")

    assert (response.status_code, still, asked) == (204, "running", True)
    assert client.get("/api/b/alice/1", headers=alice).json()["status"] == "killed"
    statuses = {j["status"] for j in client.get("/api/b/alice/1/jobs", headers=alice).json()}
    assert statuses == {"killed"}


def test_killing_a_passed_build_changes_nothing(client: Client, alice: Auth, marid: Marid) -> None:
    worker(marid, build(client, alice)).run_all()

    response = client.delete("/api/b/alice/1", headers=alice)

    assert response.status_code == 204
    assert client.get("/api/b/alice/1", headers=alice).json()["status"] == "passed"


# --- output as text --------------------------------------------------------------------------


def test_output_so_far_is_plain_text(client: Client, alice: Auth, marid: Marid) -> None:
    run = worker(marid, build(client, alice))
    run.start("test.1")
    run.write("test.1", "line 1\n")
    run.write("test.1", "line 2\n")

    response = client.get(OUTPUT, headers=alice)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.text == "line 1\nline 2\n"


def test_output_of_a_job_without_any_is_empty(client: Client, alice: Auth) -> None:
    build(client, alice)

    response = client.get(OUTPUT, headers=alice)

    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=2-5", (2, 5)),  # cuts through the UTF-8 of "ö": ranges are bytes
        ("bytes=4-", (4, 7)),
        ("bytes=-3", (5, 7)),
        ("bytes=0-100", (0, 7)),
        ("bytes=5-2", None),  # malformed: ignored
        ("lines=1-2", None),
    ],
)
def test_output_ranges_are_bytes_of_the_utf8_text(
    client: Client, alice: Auth, marid: Marid, header: str, span: tuple[int, int] | None
) -> None:
    run = worker(marid, build(client, alice))
    run.write("test.1", "ä-ö")
    run.write("test.1", "\nxx")
    full = "ä-ö\nxx".encode()

    response = client.get(OUTPUT, headers={**alice, "Range": header})

    if span is None:
        assert response.status_code == 200
        assert response.content == full
        return
    start, end = span
    assert response.status_code == 206
    assert response.content == full[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(full)}"
    assert response.headers["content-length"] == str(end - start + 1)


def test_output_range_past_the_end_is_416(client: Client, alice: Auth, marid: Marid) -> None:
    run = worker(marid, build(client, alice))
    run.write("test.1", "12345")

    response = client.get(OUTPUT, headers={**alice, "Range": "bytes=5-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */5"
    assert response.json() == {"message": "Range Not Satisfiable"}


def test_output_of_an_unknown_job_or_build_is_404(client: Client, alice: Auth) -> None:
    build(client, alice)

    assert_not_found(client.get("/api/b/alice/1/jobs/nope/output", headers=alice))
    assert_not_found(client.get("/api/b/alice/1/jobs/nope/output", headers={**alice, **EVENTS}))
    assert_not_found(client.get("/api/b/alice/2/jobs/test.1/output", headers=alice))


# --- output as server-sent events ------------------------------------------------------------


def test_events_of_an_ended_job_are_its_chunks_then_end(
    client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.start("test.1")
    first = run.write("test.1", "one\n")
    second = run.write("test.1", "two\nthree")
    run.finish("test.1", "failed")

    response = client.get(OUTPUT, headers={**alice, **EVENTS})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert parse_events(response.text) == [
        {"id": str(first), "data": "one\n"},
        {"id": str(second), "data": "two\nthree"},
        {"event": "end", "data": "failed"},
    ]
    assert "data: two\r\ndata: three\r\n" in response.text  # one data line per line


def test_events_resume_after_last_event_id(client: Client, alice: Auth, marid: Marid) -> None:
    run = worker(marid, build(client, alice))
    seqs = [run.write("test.1", f"{n}\n") for n in range(3)]
    run.finish("test.1")

    response = client.get(OUTPUT, headers={**alice, **EVENTS, "Last-Event-ID": str(seqs[0])})

    assert parse_events(response.text) == [
        {"id": str(seqs[1]), "data": "1\n"},
        {"id": str(seqs[2]), "data": "2\n"},
        {"event": "end", "data": "passed"},
    ]


def test_events_of_a_job_killed_before_it_ran_just_end(client: Client, alice: Auth) -> None:
    build(client, alice)
    client.delete("/api/b/alice/1", headers=alice)

    response = client.get(OUTPUT, headers={**alice, **EVENTS})

    assert parse_events(response.text) == [{"event": "end", "data": "killed"}]


def test_events_follow_a_running_job_until_it_ends(
    client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.start("test.1")
    run.write("test.1", "before\n")

    def work() -> None:  # while the request streams
        for n in range(5):
            run.write("test.1", f"chunk {n}\n")
        run.finish("test.1")

    thread = threading.Thread(target=work)
    thread.start()
    response = client.get(OUTPUT, headers={**alice, **EVENTS})
    thread.join()

    events = parse_events(response.text)
    assert [e.get("data") for e in events if "id" in e] == [
        "before\n",
        *(f"chunk {n}\n" for n in range(5)),
    ]
    assert events[-1] == {"event": "end", "data": "passed"}
    ids = [int(e["id"]) for e in events if "id" in e]
    assert ids == sorted(ids)


def test_events_catch_up_in_batches(
    client: Client, alice: Auth, marid: Marid, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_output, "BATCH", 2)
    run = worker(marid, build(client, alice))
    for n in range(5):
        run.write("test.1", str(n))
    run.finish("test.1")

    events = parse_events(client.get(OUTPUT, headers={**alice, **EVENTS}).text)

    assert [e["data"] for e in events] == ["0", "1", "2", "3", "4", "passed"]


# --- streaming on a real server --------------------------------------------------------------


@pytest.fixture
def live(marid: Marid, settings: Settings) -> Iterator[str]:
    """The API on a real HTTP server (the test client buffers whole responses)."""
    config = uvicorn.Config(
        create_app(settings, marid=marid),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        assert thread.is_alive(), "the server thread died"
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class EventReader:
    """Reads server-sent events one at a time from a streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def next(self) -> dict[str, Any]:
        block: list[str] = []
        for line in self.lines:
            if line == "" and block:
                return parse_events("\n".join(block))[0]
            if line != "":
                block.append(line)
        raise AssertionError("the stream ended")


def test_events_arrive_as_they_are_written(
    live: str, client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.start("test.1")
    first = run.write("test.1", "first\n")

    with httpx.stream("GET", live + OUTPUT, headers={**alice, **EVENTS}, timeout=20) as response:
        events = EventReader(response)
        assert events.next() == {"id": str(first), "data": "first\n"}
        second = run.write("test.1", "second\n")
        assert events.next() == {"id": str(second), "data": "second\n"}
        run.finish("test.1")
        assert events.next() == {"event": "end", "data": "passed"}
        assert list(events.lines) == []  # then the server closes the stream


def test_events_of_a_quiet_job_keep_the_connection_alive(
    live: str, client: Client, alice: Auth, marid: Marid, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_output, "KEEPALIVE", 0.2)
    run = worker(marid, build(client, alice))
    run.start("test.1")

    with httpx.stream("GET", live + OUTPUT, headers={**alice, **EVENTS}, timeout=20) as response:
        events = EventReader(response)
        assert events.next() == {"comment": "keep-alive"}
        assert events.next() == {"comment": "keep-alive"}
        run.finish("test.1")
        assert events.next() == {"event": "end", "data": "passed"}


def test_a_client_that_hangs_up_leaves_no_subscription_behind(
    live: str, client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.start("test.1")
    run.write("test.1", "x")
    feed = marid.build_logs.feed
    assert feed is not None

    with httpx.stream("GET", live + OUTPUT, headers={**alice, **EVENTS}, timeout=20) as response:
        reader = EventReader(response)  # kept: an unreferenced one may close the stream
        reader.next()
        deadline = time.monotonic() + 10  # the server registers on its own time
        while feed.subscriber_count() != 1 and time.monotonic() < deadline:
            threading.Event().wait(0.02)
        during = feed.subscriber_count()
    run.write("test.1", "y")  # a write after the hang-up finds the stream gone

    deadline = time.monotonic() + 10
    while feed.subscriber_count() and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    assert during == 1
    assert feed.subscriber_count() == 0


# --- access to output ------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [{}, EVENTS])
def test_output_of_a_public_build_needs_no_token(
    client: Client, alice: Auth, marid: Marid, accept: dict[str, str]
) -> None:
    create_ns(client, alice, "open", visibility="public")
    run = worker(marid, build(client, alice, "open"))
    run.write("test.1", "public\n")
    run.finish("test.1")

    response = client.get(OUTPUT, headers=accept)

    assert response.status_code == 200
    assert "public" in response.text


@pytest.mark.parametrize("accept", [{}, EVENTS])
def test_output_of_a_private_build_is_hidden(
    client: Client, alice: Auth, bob: Auth, accept: dict[str, str]
) -> None:
    build(client, alice)

    assert_not_found(client.get(OUTPUT, headers={**bob, **accept}))
    assert_not_found(client.get(OUTPUT, headers=accept))


def test_output_needs_build_read_even_in_a_public_namespace(
    client: Client, users: Users, marid: Marid
) -> None:
    user_id, owner = users.create("alice")
    create_ns(client, owner, "open", visibility="public")
    build(client, owner, "open")

    no_scope = token(marid, user_id, "namespace:read")

    assert_lacks_scope(client.get(OUTPUT, headers=no_scope), "build:read")
    assert_lacks_scope(client.get(OUTPUT, headers={**no_scope, **EVENTS}), "build:read")


def test_a_collaborator_reads_the_output(
    client: Client, users: Users, alice: Auth, marid: Marid
) -> None:
    bob_id, bob = users.create("bob")
    ns = create_ns(client, alice, "team")
    add_collaborator(marid, ns["id"], bob_id)
    run = worker(marid, build(client, alice, "team"))
    run.write("test.1", "shared")

    assert client.get(OUTPUT, headers=bob).text == "shared"


# --- artifact downloads ----------------------------------------------------------------------


@pytest.fixture
def collected(client: Client, alice: Auth, marid: Marid) -> FakeWorker:
    run = worker(marid, build(client, alice))
    run.collect("app", APP_BYTES)
    run.collect("reports/report.txt", REPORT.encode())
    return run


def test_an_artifact_downloads_with_its_digests(
    client: Client, alice: Auth, collected: FakeWorker
) -> None:
    meta = client.get("/api/b/alice/1/artifacts/app", headers=alice).json()

    response = client.get("/api/b/alice/1/artifacts/app", headers={**alice, **BINARY})

    assert response.status_code == 200
    assert response.content == APP_BYTES
    assert response.headers["content-length"] == str(len(APP_BYTES))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["accept-ranges"] == "bytes"
    assert hashlib.md5(response.content, usedforsecurity=False).hexdigest() == meta["md5"]
    assert hashlib.sha256(response.content).hexdigest() == meta["sha256"]
    assert parsedate_to_datetime(response.headers["last-modified"]).tzinfo is not None


def test_an_artifact_type_follows_its_name(
    client: Client, alice: Auth, collected: FakeWorker
) -> None:
    response = client.get(
        "/api/b/alice/1/artifacts/reports/report.txt", headers={**alice, **BINARY}
    )

    assert response.text == REPORT
    assert response.headers["content-type"].startswith("text/plain")


def test_an_artifact_downloads_in_ranges(
    client: Client, alice: Auth, collected: FakeWorker
) -> None:
    part = client.get(
        "/api/b/alice/1/artifacts/app", headers={**alice, **BINARY, "Range": "bytes=10-19"}
    )
    past = client.get(
        "/api/b/alice/1/artifacts/app", headers={**alice, **BINARY, "Range": "bytes=5000-"}
    )

    assert part.status_code == 206
    assert part.content == APP_BYTES[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(APP_BYTES)}"
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(APP_BYTES)}"


def test_an_unchanged_artifact_is_not_sent_again(
    client: Client, alice: Auth, collected: FakeWorker
) -> None:
    first = client.get("/api/b/alice/1/artifacts/app", headers={**alice, **BINARY})
    modified = parsedate_to_datetime(first.headers["last-modified"])

    same = client.get(
        "/api/b/alice/1/artifacts/app",
        headers={**alice, **BINARY, "If-Modified-Since": first.headers["last-modified"]},
    )
    older = format_datetime(modified - timedelta(seconds=1), usegmt=True)
    changed = client.get(
        "/api/b/alice/1/artifacts/app",
        headers={**alice, **BINARY, "If-Modified-Since": older},
    )
    garbage = client.get(
        "/api/b/alice/1/artifacts/app",
        headers={**alice, **BINARY, "If-Modified-Since": "yesterday"},
    )

    assert same.status_code == 304
    assert same.content == b""
    assert changed.status_code == 200
    assert garbage.status_code == 200


def test_without_accept_an_artifact_is_its_json(
    client: Client, alice: Auth, collected: FakeWorker
) -> None:
    for accept in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}):
        response = client.get("/api/b/alice/1/artifacts/app", headers={**alice, **accept})

        assert response.status_code == 200
        assert response.json()["name"] == "app"


def test_an_uncollected_or_missing_artifact_has_nothing_to_download(
    client: Client, alice: Auth, marid: Marid
) -> None:
    run = worker(marid, build(client, alice))
    run.collect("reports/report.txt", None)

    uncollected = client.get("/api/b/alice/1/artifacts/app", headers={**alice, **BINARY})
    missing = client.get("/api/b/alice/1/artifacts/reports/report.txt", headers={**alice, **BINARY})

    assert_not_found(uncollected)
    assert_not_found(missing)
    assert_not_found(client.get("/api/b/alice/1/artifacts/nope", headers={**alice, **BINARY}))


def test_an_artifact_whose_file_is_gone_is_404(
    client: Client, alice: Auth, marid: Marid, collected: FakeWorker
) -> None:
    app_id = next(a["id"] for j in collected.plan.jobs for a in j.artifacts if a["name"] == "app")
    marid.blobs.delete(f"artifacts/{collected.build_id}/{app_id}")

    assert_not_found(client.get("/api/b/alice/1/artifacts/app", headers={**alice, **BINARY}))


def test_artifacts_of_an_orphan_are_collected_again(
    client: Client, alice: Auth, marid: Marid
) -> None:
    created = build(client, alice)
    dead = marid.app.claim_build(created["id"], "dead", timedelta(seconds=-1), WORKER)
    assert dead.value is not None
    marid.settle(dead)
    app_id = next(a["id"] for j in dead.value.jobs for a in j.artifacts if a["name"] == "app")
    marid.blobs.put(f"artifacts/{created['id']}/{app_id}", iter([b"old"]))
    outcome = marid.app.record_artifact(created["id"], dead.value.claim, app_id, 3, "", "", WORKER)
    marid.settle(outcome)

    FakeWorker(marid, created["id"])

    meta = client.get("/api/b/alice/1/artifacts/app", headers=alice).json()
    assert (meta["size"], meta["md5"], meta["sha256"]) == (None, None, None)
    assert_not_found(client.get("/api/b/alice/1/artifacts/app", headers={**alice, **BINARY}))


def test_artifact_downloads_follow_build_access(client: Client, users: Users, marid: Marid) -> None:
    user_id, alice = users.create("alice")
    _, bob = users.create("bob")
    create_ns(client, alice, "open", visibility="public")
    create_ns(client, alice, "closed")
    for namespace in ("open", "closed"):
        worker(marid, build(client, alice, namespace)).collect("app", APP_BYTES)
    no_scope = token(marid, user_id, "namespace:read")

    public = client.get("/api/b/alice/1/artifacts/app", headers=BINARY)

    assert public.content == APP_BYTES
    assert_not_found(client.get("/api/b/alice/2/artifacts/app", headers=BINARY))
    assert_not_found(client.get("/api/b/alice/2/artifacts/app", headers={**bob, **BINARY}))
    assert_lacks_scope(
        client.get("/api/b/alice/1/artifacts/app", headers={**no_scope, **BINARY}), "build:read"
    )


def test_openapi_lists_the_output_route(client: Client) -> None:
    paths = client.get("/api/schema/openapi.json").json()["paths"]

    assert "get" in paths["/api/b/{user}/{number}/jobs/{name}/output"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("", 0), ("12", 12), (" 7 ", 7), ("²", 0), ("-3", 0), ("1" * 19, 0), ("x", 0)],
)
def test_a_bad_last_event_id_streams_from_the_start(header: str, expected: int) -> None:
    request = SimpleNamespace(headers={"last-event-id": header})
    assert build_output.last_event_id(request) == expected  # type: ignore[arg-type]
