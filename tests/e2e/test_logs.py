"""The log of a real `marid serve`: one format for every logger, request ids on the lines
of a request, and never a secret."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from infrastructure.settings import Settings
from tests.conftest import SECRET_KEY
from tests.e2e.test_serve import MARID, START_TIMEOUT, free_port
from tests.worker_support import manifest, until

pytestmark = pytest.mark.e2e

MASKED = "hunter2-masked-value-9f3"
WEBHOOK_SECRET = "webhook-signing-secret-77c1"


class LoggedServer:
    """`marid serve` on the test database, its log (stderr) apart from its banner (stdout,
    which shows the first-start admin token once, on purpose)."""

    def __init__(self, settings: Settings, tmp_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("MARID_")}
        base |= {
            "MARID_DATABASE_URL": str(settings.database_url),
            "MARID_DATA_DIR": str(settings.data_dir),
            "MARID_SECRET_KEY": SECRET_KEY,
            "MARID_DRIVERS": "os",
            "MARID_DB_POOL_SIZE": "3",
            **env,
        }
        with (tmp_path / "serve.out").open("w") as out, self.log.open("w") as err:
            self.process = subprocess.Popen(
                [MARID, "serve", "--port", str(self.port)], env=base, stdout=out, stderr=err
            )
        until(self.answers, START_TIMEOUT, "marid serve to answer")
        self.token = (settings.data_dir / "admin-token").read_text().strip()
        self.auth = {"Authorization": f"Bearer {self.token}"}

    def answers(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text()


@pytest.fixture
def serve(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., LoggedServer]]:
    servers: list[LoggedServer] = []

    def launch(**env: str) -> LoggedServer:
        servers.append(LoggedServer(settings, tmp_path, **env))
        return servers[-1]

    yield launch
    for server in servers:
        print(f"--- log of marid serve ---\n{server.stop()}")


def test_human_log_lines_share_one_format_and_carry_the_request_id(
    serve: Callable[..., LoggedServer],
) -> None:
    server = serve()
    httpx.get(f"{server.url}/api/user", headers={**server.auth, "X-Request-Id": "req-e2e-1"})

    lines = server.stop().splitlines()

    assert lines
    assert not [line for line in lines if line.startswith(("INFO:", "INFO - ", "WARNING:"))]
    access = [line for line in lines if " uvicorn.access" in line]
    assert any("[request req-e2e-1]" in line and "GET /api/user" in line for line in access)
    started = [line for line in lines if "Application startup complete" in line]
    assert started
    assert started[0].split()[2:4] == ["INFO", "uvicorn.error:"]  # date time LEVEL logger:


def test_json_log_is_one_object_per_line_with_the_request_id(
    serve: Callable[..., LoggedServer],
) -> None:
    server = serve(MARID_LOG_FORMAT="json")
    httpx.get(f"{server.url}/api/user", headers={**server.auth, "X-Request-Id": "req-e2e-2"})

    entries = [json.loads(line) for line in server.stop().splitlines()]

    assert {"time", "level", "logger", "message"} <= entries[0].keys()
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert any(e.get("request_id") == "req-e2e-2" for e in access)
    assert {e["logger"].split(".")[0] for e in entries} >= {"marid", "uvicorn"}


def test_no_secret_reaches_the_log(serve: Callable[..., LoggedServer]) -> None:
    # Private addresses allowed: the webhook's delivery to a closed loopback port is
    # attempted (signed with its secret) and fails, which is logged.
    server = serve(
        MARID_LOG_LEVEL="DEBUG", MARID_LOG_FORMAT="json", MARID_ALLOW_PRIVATE_URLS="true"
    )
    api, auth = f"{server.url}/api", server.auth
    assert httpx.post(f"{api}/namespaces", json={"name": "proj"}, headers=auth).status_code == 201
    hook = {"payload_url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET}
    assert httpx.post(f"{api}/n/admin/proj/-/webhooks", json=hook, headers=auth).status_code == 201
    variable = {"key": "SECRET", "value": MASKED, "mask": True, "namespace": "proj"}
    assert httpx.post(f"{api}/variables", json=variable, headers=auth).status_code == 201
    text = manifest([{"stage": "s", "commands": ['echo "$SECRET"']}], namespace="proj")
    created = httpx.post(f"{api}/builds", json={"manifest": text}, headers=auth)
    assert created.status_code == 201, created.text

    def ended() -> bool:
        body = httpx.get(f"{api}/b/admin/1", headers=auth).json()
        return body["status"] not in ("queued", "running")

    until(ended, 60, "the build to end")
    until(lambda: "attempt 1: " in server.log.read_text(), 30, "a failed webhook delivery")
    log = server.stop()

    assert "claimed build" in log
    assert "ended: passed" in log
    for secret in (MASKED, server.token, server.token.removeprefix("marid_"), WEBHOOK_SECRET):
        assert secret not in log
