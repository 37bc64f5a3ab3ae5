"""Fixtures of the web page tests: browsers (cookie jars) on the API's test client, and
users with passwords."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from infrastructure.bootstrap import Marid
from tests.conftest import TEST_ORIGIN, Client

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


class Browser:
    """One browser: its own cookies, on the shared test client; redirects not followed."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.jar = httpx.Cookies()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.client.cookies = self.jar
        try:
            return self.client.request(method, url, follow_redirects=False, **kwargs)
        finally:
            self.jar = self.client.cookies
            self.client.cookies = httpx.Cookies()

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, data=data, **kwargs)

    def csrf(self, page: str = "/login") -> str:
        """The CSRF token of the forms on `page`."""
        response = self.get(page)
        found = CSRF.search(response.text)
        assert found, f"no CSRF token on {page}: {response.status_code} {response.text[:300]}"
        return found.group(1)

    def submit(
        self, page: str, action: str, fields: dict[str, Any] | None = None, method: str = "POST"
    ) -> httpx.Response:
        """Send a form of `page` to `action` as a browser would, with its CSRF token."""
        data = {"csrf_token": self.csrf(page), **(fields or {})}
        return self.request(method, action, data=data)

    def sign_in(self, handle: str, password: str = PASSWORD) -> httpx.Response:
        response = self.submit("/login", "/login", {"handle": handle, "password": password})
        assert response.status_code == 303, response.text
        return response

    def follow(self, response: httpx.Response) -> httpx.Response:
        """The page a 303 leads to."""
        assert response.status_code in (302, 303), response.text
        return self.get(response.headers["location"])


def page_text(response: httpx.Response) -> str:
    """The page's HTML with entities decoded (what a reader of its source sees)."""
    return html.unescape(response.text)


class Accounts:
    """Makes users who can sign in."""

    def __init__(self, marid: Marid) -> None:
        self.marid = marid

    def create(self, username: str, password: str = PASSWORD) -> int:
        app = self.marid.app
        outcome = app.register_user(
            username, f"{username}@example.com", TEST_ORIGIN, password=password
        )
        return int(self.marid.settle(outcome))


@pytest.fixture
def accounts(marid: Marid) -> Accounts:
    return Accounts(marid)


@pytest.fixture
def browser(client: Client) -> Browser:
    return Browser(client)


@pytest.fixture
def alice(accounts: Accounts, client: Client) -> Browser:
    """A browser signed in as alice."""
    accounts.create("alice")
    signed_in = Browser(client)
    signed_in.sign_in("alice")
    return signed_in


@pytest.fixture
def bob(accounts: Accounts, client: Client) -> Browser:
    """A browser signed in as bob."""
    accounts.create("bob")
    signed_in = Browser(client)
    signed_in.sign_in("bob")
    return signed_in
