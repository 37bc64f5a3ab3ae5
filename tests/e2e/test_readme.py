"""The README's examples, pasted as a newcomer would, against a real `marid serve`.

Every `sh` block from "Getting a token" up to "Workers" runs in order in one shell, in a
directory laid out like a checkout after `make run` (`.venv`, `var/`), with the server's
address in place of `127.0.0.1:8000`. Every curl must get a 2xx answer; then the results
are checked through the API: the build passed, its artifact was kept, the invite was
accepted and the spare token revoked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET_KEY, reset_database
from tests.e2e.test_serve import Server

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
VENV = Path(sys.executable).parent.parent
BUILD_TIMEOUT = 60.0
# Every curl fails the script on a non-2xx answer, and prints a newline after its body.
PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body --silent --show-error --max-time 30 "$@"; echo; }
"""


def readme_script(base_url: str) -> str:
    """The README's `sh` blocks from "Getting a token" to "Workers", for this server."""
    text = README.read_text()
    start, end = text.index("## Getting a token"), text.index("## Workers")
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.DOTALL)
    return PRELUDE + "\n".join(blocks).replace("http://127.0.0.1:8000", base_url)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory like a fresh checkout after `make run`: `.venv` and (soon) `var/`."""
    home = tmp_path / "checkout"
    home.mkdir()
    (home / ".venv").symlink_to(VENV)
    return home


@pytest.fixture
def server(database: str, checkout: Path) -> Iterator[Server]:
    reset_database(database)
    launched = Server(
        checkout / "var",
        checkout / "serve.log",
        MARID_DATABASE_URL=database,
        MARID_SECRET_KEY=SECRET_KEY,
        MARID_DRIVERS="os",
    )
    try:
        launched.wait_until_up()
        yield launched
    finally:
        launched.stop()
        print(f"--- output of marid serve ---\n{launched.output()}")


def wait_for_build(base: str, auth: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + BUILD_TIMEOUT
    while True:
        build: dict[str, object] = httpx.get(f"{base}/api/b/admin/1", headers=auth).json()
        if build["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return build
        time.sleep(0.2)


def test_the_readme_examples_work_as_written(server: Server, checkout: Path, database: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARID_")}
    env.update(
        MARID_DATA_DIR=str(checkout / "var"),
        MARID_DATABASE_URL=database,
        MARID_SECRET_KEY=SECRET_KEY,
    )

    result = subprocess.run(
        ["bash", "-c", readme_script(server.url)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    token = (checkout / "var" / "admin-token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    build = wait_for_build(server.url, auth)
    assert build["status"] == "passed", build
    assert "hello from an object" in str(build["output"])
    artifacts = httpx.get(f"{server.url}/api/b/admin/1/artifacts", headers=auth).json()
    assert [(a["name"], a["size"] > 0) for a in artifacts] == [("machine.txt", True)]
    collaborators = httpx.get(f"{server.url}/api/n/admin/djinn/-/collaborators", headers=auth)
    assert [c["username"] for c in collaborators.json()] == ["alice"]
    tokens = subprocess.run(
        [str(checkout / ".venv" / "bin" / "marid"), "tokens", "list", "alice"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(r"^3\tspare\trevoked", tokens, flags=re.MULTILINE), tokens
