"""What the browser tests share: a loopback OAuth callback, screenshots, PKCE, sign-in."""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import re
import secrets
import shutil
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Response

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = re.compile(r"\bmarid_[0-9a-f]{40}\b")
HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
HEX64 = re.compile(r"\b[0-9a-f]{64}\b")
WAIT = 20.0  # seconds: a loaded 2-core machine can be slow to answer


@dataclass(frozen=True)
class Account:
    username: str
    email: str
    password: str


ALICE = Account("alice", "alice@example.com", "alice-correct-horse-battery")
BOB = Account("bob", "bob@example.com", "bob-correct-horse-battery")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_chromium() -> None:
    """Debian's Chromium must be there; in CI (CI=true) its absence fails the test."""
    if os.access(CHROMIUM, os.X_OK):
        return
    if in_ci():
        pytest.fail(f"{CHROMIUM} is missing; .ci/run and `make browser` install it")
    pytest.skip(f"{CHROMIUM} is missing: `make browser` (as root) installs Debian's chromium")


class Callback:
    """An OAuth client's redirect URI: a loopback HTTP server that keeps each query it gets."""

    def __init__(self) -> None:
        self.queries: queue.Queue[dict[str, str]] = queue.Queue()
        received = self.queries

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/callback":  # the browser asks for /favicon.ico too
                    self.send_error(404)
                    return
                query = parse_qs(url.query, keep_blank_values=True)
                received.put({key: values[-1] for key, values in query.items()})
                body = b"<!doctype html><title>Callback</title><p>The app got its answer.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self) -> dict[str, str]:
        """The next query the callback received (fails the test if none comes)."""
        try:
            return self.queries.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"the callback {self.url} received nothing in {WAIT}s")

    def nothing_received(self) -> bool:
        return self.queries.empty()

    def forget(self) -> None:
        """Drop what earlier tests caused and did not take (when they failed half-way)."""
        while not self.queries.empty():
            self.queries.get_nowait()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class Screenshots:
    """Full-page screenshots into a directory, copied to `$MARID_SCREENSHOTS` when set."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.copy_to = os.environ.get("MARID_SCREENSHOTS") or None

    def take(self, page: Page, name: str) -> Path:
        path = self.directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if self.copy_to:
            Path(self.copy_to).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(self.copy_to) / path.name)
        return path


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def submit(page: Page, form: str) -> None:
    """Press the submit button of the form matching `form` and wait for the next page."""
    with page.expect_navigation():
        page.locator(f"{form} [type=submit]").first.click()


def fill_sign_in(page: Page, account: Account, handle: str | None = None) -> None:
    """Fill the sign-in form on the page (/login, or where authorize sent the browser) and
    send it, with the username unless `handle` says otherwise (the email, say)."""
    page.fill("input[name=handle]", handle or account.username)
    page.fill("input[name=password]", account.password)
    submit(page, "form:has(input[name=handle])")


def sign_in(page: Page, account: Account) -> None:
    page.goto("/login")
    fill_sign_in(page, account)
    assert not page.url.endswith("/login"), body_text(page)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body_text(page: Page) -> str:
    return page.inner_text("body")


def shown_text(page: Page) -> str:
    """What a person sees: the text, and the values of the fields that are not hidden (a new
    token or secret is shown in a read-only field, to copy)."""
    values = page.eval_on_selector_all(
        "input:not([type=hidden]), textarea", "fields => fields.map(f => f.value)"
    )
    return "\n".join([body_text(page), *values])


def status(response: Response | None) -> int:
    """The status of the answer a navigation ended on."""
    assert response is not None, "the navigation got no answer"
    return response.status
