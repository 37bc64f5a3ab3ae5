"""An OAuth app registered and authorized in a real browser, its code exchanged as the
app's server would (httpx standing in for curl), against a real `marid serve`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Served, new_context
from tests.browser.support import (
    ALICE,
    BOB,
    HEX32,
    HEX64,
    Callback,
    Screenshots,
    bearer,
    body_text,
    fill_sign_in,
    pkce_pair,
    shown_text,
    sign_in,
    status,
    submit,
)

pytestmark = pytest.mark.e2e

SCOPE = "build:read namespace:read"
APPROVE = re.compile(r"^\s*(authori[sz]e|allow|approve)", re.IGNORECASE)
DENY = re.compile(r"^\s*(deny|cancel|decline)", re.IGNORECASE)


@dataclass(frozen=True)
class App:
    name: str
    client_id: str
    client_secret: str
    redirect_uri: str


@pytest.fixture(scope="module")
def app(
    chromium: Browser, served: Served, callback_server: Callback, screenshots: Screenshots
) -> Iterator[App]:
    """An app alice registers on /settings/apps/create, its redirect URI the callback."""
    context = new_context(chromium, served)
    page = context.new_page()
    sign_in(page, ALICE)
    page.goto("/settings/apps/create")
    screenshots.take(page, "04-app-create")
    page.fill("input[name=name]", "Build Watcher")
    page.fill("[name=description]", "Shows how your CI is doing, on your phone")
    page.fill("input[name=homepage_uri]", "https://watcher.example.com")
    page.fill("input[name=redirect_uri]", callback_server.url)
    submit(page, "form:has(input[name=redirect_uri])")
    screenshots.take(page, "05-app")
    shown = shown_text(page)
    client_id, secret = set(HEX32.findall(shown)), set(HEX64.findall(shown))
    assert len(client_id) == 1, shown
    assert len(secret) == 1, shown
    yield App("Build Watcher", client_id.pop(), secret.pop(), callback_server.url)
    context.close()


def authorize_url(app: App, challenge: str, redirect_uri: str | None = None) -> str:
    query = {
        "client_id": app.client_id,
        "redirect_uri": redirect_uri or app.redirect_uri,
        "scope": SCOPE,
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return "/login/oauth/authorize?" + urlencode(query)


def exchange(served: Served, app: App, code: str, verifier: str) -> httpx.Response:
    """What the app's server does with the code (README: the same with curl)."""
    form = {
        "grant_type": "authorization_code",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": verifier,
    }
    headers = {"Accept": "application/json"}
    return httpx.post(f"{served.url}/login/oauth/token", data=form, headers=headers)


def access_token(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["token_type"] == "bearer"
    assert body["scope"] == SCOPE
    token: str = body["access_token"]
    return token


def test_an_app_is_authorized_end_to_end_and_its_token_revoked(
    new_page: Callable[[], Page],
    served: Served,
    app: App,
    callback: Callback,
    screenshots: Screenshots,
) -> None:
    verifier, challenge = pkce_pair()
    page = new_page()  # not signed in: authorize asks first
    page.goto(authorize_url(app, challenge))
    screenshots.take(page, "06-authorize-sign-in")
    fill_sign_in(page, ALICE)
    consent = body_text(page)
    screenshots.take(page, "07-consent")
    page.get_by_role("button", name=APPROVE).click()
    answer = callback.next()
    first = exchange(served, app, answer.get("code", ""), verifier)
    replayed = exchange(served, app, answer.get("code", ""), verifier)
    token = access_token(first)
    api = f"{served.url}/api"
    user = httpx.get(f"{api}/user", headers=bearer(token))
    builds = httpx.get(f"{api}/builds", headers=bearer(token))
    write = httpx.post(f"{api}/namespaces", json={"name": "n"}, headers=bearer(token))
    page.goto("/settings/connections")
    connections = body_text(page)
    screenshots.take(page, "08-connections")

    assert app.name in consent
    assert "Read your builds" in consent  # the scopes in words
    assert "Read your namespaces" in consent
    assert answer.keys() == {"code", "state"}, answer
    assert answer["state"] == "xyz"
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"
    assert user.status_code == 200, user.text
    assert user.json()["username"] == "alice"
    assert builds.status_code == 200
    assert write.status_code == 403  # the scope granted, no more
    assert app.name in connections

    verifier, challenge = pkce_pair()
    page.goto(authorize_url(app, challenge))  # the grant covers it: no consent page
    again = callback.next()
    renewed = access_token(exchange(served, app, again.get("code", ""), verifier))
    replaced = httpx.get(f"{api}/user", headers=bearer(token))
    revoked = httpx.post(f"{served.url}/logout/oauth/revoke", headers=bearer(renewed))
    after = httpx.get(f"{api}/user", headers=bearer(renewed))
    page.goto("/settings/connections")
    connections_after = body_text(page)

    assert again["state"] == "xyz"
    assert again["code"] != answer["code"]
    assert revoked.status_code == 204
    assert replaced.status_code == 401  # one token per user and app: a new value replaced it
    assert after.status_code == 401
    assert app.name not in connections_after


def test_denying_consent_sends_access_denied_to_the_app(
    new_page: Callable[[], Page], app: App, callback: Callback
) -> None:
    page = new_page()
    sign_in(page, BOB)
    page.goto(authorize_url(app, pkce_pair()[1]))
    page.get_by_role("button", name=DENY).click()
    answer = callback.next()

    assert answer.get("error") == "access_denied", answer
    assert answer.get("state") == "xyz"
    assert "code" not in answer


def test_an_unregistered_redirect_uri_gets_an_error_page_and_no_redirect(
    new_page: Callable[[], Page],
    served: Served,
    app: App,
    callback: Callback,
    screenshots: Screenshots,
) -> None:
    page = new_page()
    sign_in(page, ALICE)
    elsewhere = app.redirect_uri.replace("/callback", "/elsewhere")
    response = page.goto(authorize_url(app, pkce_pair()[1], redirect_uri=elsewhere))
    screenshots.take(page, "09-authorize-error")

    assert status(response) == 400
    assert page.url.startswith(served.url)
    assert "redirect" in body_text(page).lower()
    assert callback.nothing_received()
