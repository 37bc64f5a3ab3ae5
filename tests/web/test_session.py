"""Signing in and out, registration, the settings page, CSRF, cookies and headers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import TEST_ORIGIN, Client
from tests.web.conftest import PASSWORD, Accounts, Browser, page_text

SECURITY = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def set_cookies(response: object) -> dict[str, str]:
    """Each cookie the response sets, by name: its whole Set-Cookie line, lower-cased."""
    lines = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return {line.split("=", 1)[0]: line.lower() for line in lines}


def test_sign_in_page_is_accessible_html_with_security_headers(browser: Browser) -> None:
    response = browser.get("/login")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in response.text
    assert '<label for="handle">' in response.text
    assert 'id="handle"' in response.text
    assert "<script" not in response.text
    for name, value in SECURITY.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


def test_sign_in_sets_an_httponly_lax_session_cookie(accounts: Accounts, browser: Browser) -> None:
    accounts.create("alice")

    response = browser.sign_in("alice")

    cookie = set_cookies(response)["marid_session"]
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie  # plain http, and no https MARID_API_URL
    assert response.headers["location"] == "/settings"
    assert browser.get("/settings").status_code == 200


def test_sign_in_with_the_email_address(accounts: Accounts, browser: Browser) -> None:
    accounts.create("alice")

    browser.sign_in("alice@example.com")

    assert "alice@example.com" in browser.get("/settings").text


def test_cookies_are_secure_over_https(accounts: Accounts, browser: Browser) -> None:
    accounts.create("alice")
    https = "https://testserver.local"

    response = browser.submit(
        f"{https}/login", f"{https}/login", {"handle": "alice", "password": PASSWORD}
    )

    assert response.status_code == 303
    assert "secure" in set_cookies(response)["marid_session"]


def test_cookies_are_secure_when_the_public_url_is_https(
    browser: Browser, settings: Settings, client: Client
) -> None:
    client.app.state.marid.settings = replace(settings, api_url="https://ci.example.com/api")

    response = browser.get("/login")

    assert "secure" in set_cookies(response)["marid_csrf"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"handle": "alice", "password": "wrong password!"}, "Invalid credentials"),
        ({"handle": "nobody", "password": PASSWORD}, "Invalid credentials"),
        ({"handle": "", "password": PASSWORD}, "Username or email field required"),
        ({"handle": "alice", "password": ""}, "Password field required"),
    ],
)
def test_a_refused_sign_in_shows_the_form_again_with_why(
    accounts: Accounts, browser: Browser, fields: dict[str, str], message: str
) -> None:
    accounts.create("alice")

    response = browser.submit("/login", "/login", fields)

    assert response.status_code == 400
    assert message in response.text
    assert 'name="handle"' in response.text
    assert "marid_session" not in set_cookies(response)


def test_failed_sign_ins_are_throttled(accounts: Accounts, browser: Browser) -> None:
    accounts.create("alice")
    for _ in range(5):
        browser.submit("/login", "/login", {"handle": "alice", "password": "wrong password!"})

    response = browser.submit("/login", "/login", {"handle": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in response.text


@pytest.mark.parametrize(
    ("asked", "sent_to"),
    [
        ("/settings/tokens", "/settings/tokens"),
        (
            "/login/oauth/authorize?client_id=x&state=y",
            "/login/oauth/authorize?client_id=x&state=y",
        ),
        ("https://evil.example/", "/settings"),
        ("//evil.example/", "/settings"),
        ("/\\evil.example/", "/settings"),
        ("javascript:alert(1)", "/settings"),
        ("", "/settings"),
    ],
)
def test_sign_in_returns_only_to_a_local_path(
    accounts: Accounts, browser: Browser, asked: str, sent_to: str
) -> None:
    accounts.create("alice")
    fields = {"handle": "alice", "password": PASSWORD, "redirect_uri": asked}

    response = browser.submit("/login", "/login", fields)

    assert response.status_code == 303
    assert response.headers["location"] == sent_to


def test_the_sign_in_page_keeps_where_to_return(browser: Browser) -> None:
    response = browser.get("/login", params={"redirect_uri": "/settings/apps"})

    assert 'name="redirect_uri" value="/settings/apps"' in response.text


def test_a_signed_in_visitor_of_the_sign_in_page_goes_on(alice: Browser) -> None:
    response = alice.get("/login", params={"redirect_uri": "/settings/tokens"})

    assert response.status_code == 303
    assert response.headers["location"] == "/settings/tokens"


def test_a_page_for_signed_in_users_sends_others_to_sign_in_and_back(browser: Browser) -> None:
    response = browser.get("/settings/tokens")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?redirect_uri=%2Fsettings%2Ftokens"


def test_sign_out_ends_the_session(alice: Browser) -> None:
    session = alice.jar.get("marid_session")
    form = alice.csrf("/settings")

    response = alice.post("/logout", {"csrf_token": form})

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert 'marid_session=""' in response.headers.get("set-cookie", "")
    replayed = Browser(alice.client)
    replayed.jar.set("marid_session", session)
    assert replayed.get("/settings").status_code == 303  # the old cookie no longer works


def test_the_password_is_changed_with_the_current_one(alice: Browser, client: Client) -> None:
    fields = {
        "_method": "PATCH",
        "current_password": PASSWORD,
        "password": "a new long password",
        "verify_password": "a new long password",
    }

    response = alice.submit("/settings", "/settings/password", fields)

    assert response.status_code == 303
    assert "Your password was changed." in alice.follow(response).text
    fresh = Browser(client)
    assert (
        fresh.submit("/login", "/login", {"handle": "alice", "password": PASSWORD}).status_code
        == 400
    )
    fresh.sign_in("alice", "a new long password")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"current_password": "not it at all"}, "current_password", "Password is incorrect"),
        ({"verify_password": "something else"}, "verify_password", "Password does not match"),
        ({"password": "short", "verify_password": "short"}, "password", "Password"),
        ({"current_password": ""}, "current_password", "Current password field required"),
    ],
)
def test_a_refused_password_change_shows_the_form_again(
    alice: Browser, fields: dict[str, str], field: str, message: str
) -> None:
    sent = {
        "current_password": PASSWORD,
        "password": "a new long password",
        "verify_password": "a new long password",
        **fields,
    }

    response = alice.submit("/settings", "/settings/password", {"_method": "PATCH", **sent})

    assert response.status_code == 400
    assert f'id="{field}-errors"' in response.text
    assert message in page_text(response)


def test_the_real_patch_method_changes_the_password_too(alice: Browser) -> None:
    fields = {
        "current_password": PASSWORD,
        "password": "a new long password",
        "verify_password": "a new long password",
    }

    response = alice.submit("/settings", "/settings/password", fields, method="PATCH")

    assert response.status_code == 303


def test_the_stylesheet_is_served(browser: Browser) -> None:
    response = browser.get("/static/marid.css")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in response.text


def test_an_expired_session_asks_to_sign_in_again(
    alice: Browser, marid: Marid, settings: Settings
) -> None:
    later = marid.app.clock() + settings.session_lifetime + timedelta(seconds=1)
    marid.app.clock = lambda: later

    response = alice.get("/settings")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert 'marid_session=""' in response.headers.get("set-cookie", "")


def test_a_disabled_users_session_stops_at_once(
    accounts: Accounts, client: Client, marid: Marid
) -> None:
    user_id = accounts.create("carol")
    carol = Browser(client)
    carol.sign_in("carol")

    marid.settle(marid.app.disable_user(user_id, TEST_ORIGIN))

    assert carol.get("/settings").status_code == 303
    refused = carol.submit("/login", "/login", {"handle": "carol", "password": PASSWORD})
    assert refused.status_code == 400
    assert "This account is disabled" in refused.text


def test_failed_sign_ins_from_one_address_are_throttled(
    accounts: Accounts, browser: Browser
) -> None:
    accounts.create("alice")
    for attempt in range(20):
        fields = {"handle": f"nobody{attempt}", "password": "wrong password!"}
        browser.submit("/login", "/login", fields)

    response = browser.submit("/login", "/login", {"handle": "alice", "password": PASSWORD})

    assert response.status_code == 429
