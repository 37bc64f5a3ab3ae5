"""Builds on the `os` driver over HTTP, run by a root worker in this process (as CI runs the
tests): jobs run as the build user, who cannot reach the server's secrets, and artifacts
are collected from any path that user may read.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from infrastructure.worker import Worker, WorkerConfig
from tests.conftest import reset_database
from tests.helpers import Auth, Client
from tests.worker_support import finished, jobs, manifest, require_root, shared_dir, submit

DB_PASSWORD = "db-pass-" + secrets.token_hex(8)
BINARY = {"Accept": "application/octet-stream"}


@pytest.fixture
def scratch() -> Iterator[Path]:
    require_root()
    with shared_dir() as path:
        yield path


@pytest.fixture
def settings(database: str, scratch: Path) -> Settings:
    """The data directory where a careless set-up leaves it: readable by anyone, in /tmp."""
    reset_database(database)
    data_dir = scratch / "var"
    data_dir.mkdir(mode=0o755)
    return Settings(
        database_url=database,
        data_dir=data_dir,
        secret_key=None,  # generated into the data directory
        read_wait_timeout=15.0,
        pool_size=4,
        run_scheduler=False,
        run_webhooks=False,
    )


def start_worker(marid: Marid) -> Worker:
    config = WorkerConfig(
        name="os-test",
        parallelism=1,
        timeout=timedelta(seconds=60),
        lease=timedelta(seconds=5),
        sweep_interval=0.3,
    )
    return marid.start_worker(config, ("os",))


def test_a_build_cannot_read_the_secret_key_admin_token_or_database_password(
    client: Client, alice: Auth, marid: Marid, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = settings.data_dir
    key_file, token_file = data / "secret-key", data / "admin-token"
    token_file.write_text("marid_admin_" + secrets.token_hex(16))
    for path in (key_file, token_file):
        path.chmod(0o644)  # as an older set-up or a careless umask left them
    # The server's environment holds the database password.
    monkeypatch.setenv("MARID_DATABASE_URL", f"postgresql://marid:{DB_PASSWORD}@127.0.0.1/marid")
    monkeypatch.setenv("PGPASSWORD", DB_PASSWORD)
    start_worker(marid)
    commands = [
        "set +x",
        "id -u",
        f"cat {key_file} || true",
        f"cat {token_file} || true",
        f"ls {data} {data}/blobs || true",
        "env",
        f"tr '\\0' '\\n' < /proc/{os.getpid()}/environ || true",
        "tr '\\0' '\\n' < /proc/$PPID/environ || true",
        "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep MARID_DATABASE || echo no url",
    ]

    submit(client, alice, manifest([{"stage": "s", "name": "steal", "commands": commands}]))
    got = finished(client, alice, 1)

    output = jobs(client, alice, 1)["steal"]["output"]
    uid = output.splitlines()[1]
    assert got["status"] == "passed", got["output"]
    assert uid.isdigit()
    assert uid != "0"
    assert key_file.read_text() not in output
    assert token_file.read_text() not in output
    assert DB_PASSWORD not in output
    assert output.count("Permission denied") >= 4
    assert output.endswith("no url\n")
    assert (key_file.stat().st_mode & 0o777, data.stat().st_mode & 0o777) == (0o600, 0o700)


def test_artifacts_are_collected_from_any_path_the_build_user_may_read(
    client: Client, alice: Auth, marid: Marid, scratch: Path
) -> None:
    start_worker(marid)
    outside = scratch / "out.txt"
    root_only = scratch / "root-only.txt"
    root_only.write_text("only root may read this\n")
    root_only.chmod(0o600)
    text = manifest(
        [
            {
                "stage": "s",
                "name": "make",
                "commands": [f"echo made outside > {outside}"],
                "artifacts": [
                    "/etc/os-release => os-release",
                    f"{outside} => out.txt",
                    f"{root_only} => root-only.txt",
                    "missing.txt",
                ],
            }
        ]
    )

    submit(client, alice, text)
    got = finished(client, alice, 1)

    assert got["status"] == "passed"
    found = {a["name"]: a for a in client.get("/api/b/alice/1/artifacts", headers=alice).json()}
    for name, content in (
        ("os-release", Path("/etc/os-release").read_bytes()),
        ("out.txt", b"made outside\n"),
    ):
        artifact = found[name]
        assert artifact["size"] == len(content)
        assert artifact["md5"] == hashlib.md5(content, usedforsecurity=False).hexdigest()
        assert artifact["sha256"] == hashlib.sha256(content).hexdigest()
        download = client.get(f"/api/b/alice/1/artifacts/{name}", headers=alice | BINARY)
        assert (download.status_code, download.content) == (200, content)
    for name in ("root-only.txt", "missing.txt"):
        assert (found[name]["size"], found[name]["md5"], found[name]["sha256"]) == (None,) * 3
        download = client.get(f"/api/b/alice/1/artifacts/{name}", headers=alice | BINARY)
        assert download.status_code == 404
    output = jobs(client, alice, 1)["make"]["output"]
    assert f"Artifact {root_only} not collected:" in output
    assert "Permission denied" in output
    assert "Artifact missing.txt not found, not collected" in output
    assert "only root may read this" not in got["output"]
