"""Fixtures of the browser tests: one headless Chromium and one real `marid serve` per test
process, on a database of their own, with users made by the command line as an operator
would, an OAuth client's loopback callback, and a directory of screenshots.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from infrastructure.database import with_database
from tests.browser.support import (
    ALICE,
    BOB,
    CHROMIUM,
    WAIT,
    Callback,
    Screenshots,
    require_chromium,
)
from tests.conftest import SECRET_KEY
from tests.e2e.test_serve import MARID, Server


@dataclass(frozen=True)
class Served:
    """A running `marid serve` and how to run the command line against its database."""

    server: Server
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def marid(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [MARID, *args], env=self.env, input=stdin, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"marid {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (which downloads no browser).

    Per module, not per session: while Playwright's sync API is open it leaves its event
    loop marked as running in this thread, and an asyncio test after it would fail with
    "Cannot run the event loop while another loop is running".
    """
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def browser_database(pg_server: str) -> Iterator[str]:
    """A database for the browser tests' server alone, dropped at the end."""
    name = f"marid_browser_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield with_database(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def served(browser_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`marid serve` with alice and bob, made with `marid users create --password-stdin`."""
    home = tmp_path_factory.mktemp("browser-serve")
    settings = {
        "MARID_DATABASE_URL": browser_database,
        "MARID_DATA_DIR": str(home / "var"),
        "MARID_SECRET_KEY": SECRET_KEY,
        "MARID_DRIVERS": "os",
        "MARID_RUN_WORKER": "false",
        "MARID_DB_POOL_SIZE": "3",
        "MARID_REGISTRATION": "open",
    }
    server = Server(home / "var", home / "serve.log", **settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARID_")} | settings
    try:
        server.wait_until_up()
        running = Served(server, env)
        for account in (ALICE, BOB):
            running.marid(
                "users", "create", account.username, "--email", account.email,
                "--password-stdin", stdin=account.password + "\n",
            )  # fmt: skip
        yield running
    finally:
        server.stop()
        print(f"--- output of marid serve ---\n{server.output()}")


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="session")
def callback_server() -> Iterator[Callback]:
    """The OAuth client's redirect URI, registered once (the app fixture's)."""
    receiver = Callback()
    yield receiver
    receiver.close()


@pytest.fixture
def callback(callback_server: Callback) -> Callback:
    """The callback, with nothing left in it from an earlier test."""
    callback_server.forget()
    return callback_server


@pytest.fixture
def new_page(chromium: Browser, served: Served) -> Iterator[Callable[[], Page]]:
    """Pages in browser contexts of their own: separate cookie jars, as separate people."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        contexts.append(new_context(chromium, served))
        return contexts[-1].new_page()

    yield make
    for context in contexts:
        context.close()


def new_context(chromium: Browser, served: Served) -> BrowserContext:
    """A browser context (its own cookies) on the served marid, one window size for all."""
    context = chromium.new_context(base_url=served.url, viewport={"width": 1000, "height": 700})
    context.set_default_timeout(WAIT * 1000)
    return context
