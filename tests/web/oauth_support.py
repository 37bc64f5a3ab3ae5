"""Steps of the OAuth flow as a browser and an app take them, for the web tests."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import Client
from tests.web.conftest import Browser

CALLBACK = "http://127.0.0.1:8765/callback"
SECRET = re.compile(r'class="secret" type="text" readonly value="([0-9a-f]{64})"')
CLIENT_ID = re.compile(r"/settings/apps/([0-9a-f]{32})")
VERIFIER = "v" * 43 + "-verifier._~"


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def register_app(
    browser: Browser, name: str = "Builder", redirect_uri: str = CALLBACK
) -> tuple[str, str]:
    """Register an app on the form; its client id and the secret shown once."""
    fields = {
        "name": name,
        "description": "Builds things for you",
        "homepage_uri": "https://builder.example/",
        "redirect_uri": redirect_uri,
    }
    response = browser.submit("/settings/apps/create", "/settings/apps", fields)
    assert response.status_code == 303, response.text
    found = CLIENT_ID.search(response.headers["location"])
    assert found
    secrets = SECRET.findall(browser.follow(response).text)
    assert len(secrets) == 1
    return found.group(1), secrets[0]


def authorize_params(client_id: str, scope: str = "build:read", **extra: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": scope,
        "state": "xyz",
        **extra,
    }


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent_fields(page: httpx.Response) -> dict[str, str]:
    """The hidden fields of the consent form."""
    return dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))


def approve(browser: Browser, params: dict[str, str], decision: str = "approve") -> str:
    """Show the consent page and press a button; where the browser is sent."""
    page = browser.get("/login/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    response = browser.post(
        "/login/oauth/authorize", {**consent_fields(page), "decision": decision}
    )
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


def code_for(browser: Browser, client_id: str, scope: str = "build:read", **extra: str) -> str:
    location = approve(browser, authorize_params(client_id, scope, **extra))
    return query_of(location)["code"]


def exchange(
    client: Client,
    client_id: str,
    secret: str | None,
    code: str,
    accept: str = "application/json",
    extra: dict[str, str | None] | None = None,
) -> httpx.Response:
    """Exchange `code` with the form's usual fields, changed (None: left out) by `extra`."""
    fields = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": secret,
        "code": code,
        "redirect_uri": CALLBACK,
        **(extra or {}),
    }
    data = {k: v for k, v in fields.items() if v is not None}
    return client.post("/login/oauth/token", data=data, headers={"Accept": accept})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
