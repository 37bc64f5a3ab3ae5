"""Registration: a 404 unless MARID_REGISTRATION=open."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infrastructure.settings import Settings
from tests.conftest import Client
from tests.web.conftest import PASSWORD, Accounts, Browser, page_text


def test_registration_is_not_found_while_closed(browser: Browser) -> None:
    token = browser.csrf("/login")

    page = browser.get("/register")
    sent = browser.post(
        "/register",
        {"csrf_token": token, "email": "e@example.com", "username": "eve", "password": PASSWORD},
    )

    assert page.status_code == 404
    assert sent.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


@pytest.fixture
def open_registration(settings: Settings) -> Settings:
    return replace(settings, registration_open=True)


def test_registration_when_open_signs_the_new_user_in(
    open_registration: Settings, client: Client
) -> None:
    client.app.state.marid.settings = open_registration
    browser = Browser(client)
    fields = {
        "email": "eve@example.com",
        "username": "eve",
        "password": PASSWORD,
        "verify_password": PASSWORD,
    }

    response = browser.submit("/register", "/register", fields)

    assert response.status_code == 303, response.text
    assert "Welcome to marid, eve." in browser.follow(response).text
    assert "eve@example.com" in browser.get("/settings").text


def test_registration_reports_every_bad_field(
    open_registration: Settings, client: Client, accounts: Accounts
) -> None:
    client.app.state.marid.settings = open_registration
    accounts.create("alice")
    browser = Browser(client)
    fields = {
        "email": "alice@example.com",
        "username": "a",
        "password": PASSWORD,
        "verify_password": "something else",
    }

    response = browser.submit("/register", "/register", fields)

    text = page_text(response)
    assert response.status_code == 400
    assert "Password does not match" in text
    assert "Username must be between 3 and 30 characters" in text
    assert 'value="alice@example.com"' in text  # the form keeps what was typed
    assert PASSWORD not in text  # but never a password
