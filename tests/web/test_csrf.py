"""CSRF protection of every form, and the method override of HTML forms."""

from __future__ import annotations

import pytest

from tests.conftest import Client
from tests.web.conftest import PASSWORD, Accounts, Browser


def test_a_form_without_its_csrf_token_is_forbidden(accounts: Accounts, browser: Browser) -> None:
    accounts.create("alice")
    browser.get("/login")  # the CSRF cookie is set

    response = browser.post("/login", {"handle": "alice", "password": PASSWORD})

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "did not come from this site" in response.text
    assert response.headers["x-frame-options"] == "DENY"


def test_a_csrf_token_of_another_browser_is_forbidden(
    accounts: Accounts, browser: Browser, client: Client
) -> None:
    accounts.create("alice")
    attacker = Browser(client)
    token = attacker.csrf("/login")
    browser.get("/login")

    response = browser.post(
        "/login", {"csrf_token": token, "handle": "alice", "password": PASSWORD}
    )

    assert response.status_code == 403


def test_a_form_without_the_csrf_cookie_is_forbidden(accounts: Accounts, browser: Browser) -> None:
    accounts.create("alice")
    token = browser.csrf("/login")
    browser.jar.clear()

    response = browser.post(
        "/login", {"csrf_token": token, "handle": "alice", "password": PASSWORD}
    )

    assert response.status_code == 403


def test_a_csrf_token_of_the_signed_out_page_fails_once_signed_in(alice: Browser) -> None:
    anonymous = Browser(alice.client)
    anonymous.jar.set("marid_csrf", alice.jar["marid_csrf"])
    stale = anonymous.csrf("/login")  # the same CSRF cookie, no session

    response = alice.post("/logout", {"csrf_token": stale})

    assert response.status_code == 403


def test_a_method_the_route_does_not_have_is_refused(alice: Browser) -> None:
    response = alice.submit("/settings", "/settings/password", {"_method": "DELETE"})

    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "action",
    [
        "/logout",
        "/settings/password",
        "/settings/tokens",
        "/settings/apps",
        "/login/oauth/authorize",
    ],
)
def test_every_form_of_a_signed_in_user_needs_its_csrf_token(alice: Browser, action: str) -> None:
    response = alice.post(action, {"name": "x", "_method": "PATCH"})

    assert response.status_code == 403
    assert "did not come from this site" in response.text


def test_nothing_is_made_by_a_forged_form(alice: Browser) -> None:
    forged = alice.post("/settings/tokens", {"csrf_token": "0" * 64, "name": "forged"})

    assert forged.status_code == 403
    assert "forged" not in alice.get("/settings/tokens").text


def test_a_form_field_with_a_nul_character_is_refused(alice: Browser) -> None:
    fields = {"name": "lap\x00top", "scope": "build:read"}

    response = alice.submit("/settings/tokens/create", "/settings/tokens", fields)

    assert response.status_code == 400
    assert "name: Cannot contain NUL characters" in response.text
    assert "lap" not in alice.get("/settings/tokens").text
