"""The authorization-code flow: authorize (sign-in, consent), code, exchange, revoke."""

from __future__ import annotations

import html

import pytest

from tests.conftest import Client
from tests.web.conftest import PASSWORD, Accounts, Browser, page_text
from tests.web.oauth_support import (
    CALLBACK,
    VERIFIER,
    approve,
    authorize_params,
    bearer,
    challenge,
    code_for,
    consent_fields,
    exchange,
    query_of,
    register_app,
)

SIGN_IN_AND_BACK = "/login?redirect_uri=%2Flogin%2Foauth%2Fauthorize"


def test_the_whole_flow_from_sign_in_to_an_api_call_and_revocation(
    alice: Browser, accounts: Accounts, client: Client
) -> None:
    client_id, secret = register_app(alice)
    accounts.create("bob")
    bob = Browser(client)
    params = authorize_params(client_id, "build:read namespace:read,write")

    asked = bob.get("/login/oauth/authorize", params=params)
    login = bob.follow(asked)
    back_to = consent_fields(login)["redirect_uri"]  # the sign-in form's hidden field
    signed_in = bob.submit(
        asked.headers["location"],
        "/login",
        {"handle": "bob", "password": PASSWORD, "redirect_uri": html.unescape(back_to)},
    )
    consent = bob.follow(signed_in)
    decided = bob.post("/login/oauth/authorize", {**consent_fields(consent), "decision": "approve"})
    back = query_of(decided.headers["location"])
    exchanged = exchange(client, client_id, secret, back["code"])
    token = exchanged.json()["access_token"]
    user = client.get("/api/user", headers=bearer(token))
    revoked = client.post("/logout/oauth/revoke", headers=bearer(token))
    after = client.get("/api/user", headers=bearer(token))

    assert asked.status_code == 303
    assert asked.headers["location"].startswith(SIGN_IN_AND_BACK)
    assert login.status_code == 200
    assert signed_in.headers["location"].startswith("/login/oauth/authorize?")
    assert consent.status_code == 200
    text = page_text(consent)
    assert "Authorize Builder" in text
    assert "https://builder.example/" in text
    assert "Read your builds" in text
    assert "Read your namespaces" in text
    assert "Create and change your namespaces" in text
    assert "frame-ancestors 'none'" in consent.headers["content-security-policy"]
    assert consent.headers["x-frame-options"] == "DENY"
    assert decided.status_code == 303
    assert decided.headers["location"].startswith(f"{CALLBACK}?code=")
    assert back["state"] == "xyz"
    assert exchanged.status_code == 200
    assert exchanged.headers["cache-control"] == "no-store"
    assert exchanged.json() == {
        "access_token": token,
        "token_type": "bearer",
        "scope": "build:read namespace:read,write",
    }
    assert user.json()["username"] == "bob"
    assert revoked.status_code == 204
    assert after.status_code == 401


def test_the_code_is_added_to_a_redirect_uri_with_a_query(alice: Browser) -> None:
    uri = "http://127.0.0.1:8765/callback?app=1"
    client_id, _ = register_app(alice, redirect_uri=uri)

    location = approve(alice, {**authorize_params(client_id), "redirect_uri": uri})

    assert location.startswith(f"{uri}&code=")
    assert location.endswith("&state=xyz")


def test_deny_sends_access_denied_with_the_state(alice: Browser) -> None:
    client_id, _ = register_app(alice)

    location = approve(alice, authorize_params(client_id), decision="deny")

    assert location == f"{CALLBACK}?error=access_denied&state=xyz"


def test_consent_is_skipped_when_the_grant_covers_the_request(
    alice: Browser, client: Client
) -> None:
    client_id, secret = register_app(alice)
    code = code_for(alice, client_id, "build:read,write")
    assert exchange(client, client_id, secret, code).status_code == 200

    covered = alice.get("/login/oauth/authorize", params=authorize_params(client_id, "build:read"))
    wider = alice.get("/login/oauth/authorize", params=authorize_params(client_id, "key:read"))

    assert covered.status_code == 303
    assert covered.headers["location"].startswith(f"{CALLBACK}?code=")
    assert wider.status_code == 200
    assert "Read your SSH keys" in wider.text
    assert "Submit builds and tag them" in wider.text  # the grant is merged with the request


def test_a_new_grant_rescopes_the_apps_token_and_gives_it_a_new_value(
    alice: Browser, client: Client
) -> None:
    client_id, secret = register_app(alice)
    first = exchange(client, client_id, secret, code_for(alice, client_id)).json()
    second = exchange(client, client_id, secret, code_for(alice, client_id, "key:read")).json()

    assert second["scope"] == "build:read key:read"
    assert client.get("/api/user", headers=bearer(first["access_token"])).status_code == 401
    assert client.get("/api/keys", headers=bearer(second["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"client_id": ""}, 400, "No client ID in request"),
        ({"client_id": "0" * 32}, 404, "No app with this client ID"),
        ({"redirect_uri": "https://evil.example/callback"}, 400, "redirect_uri does not match"),
        ({"redirect_uri": ""}, 400, "redirect_uri does not match"),
        ({"scope": "build:fly"}, 400, "unknown permission: fly"),
        ({"scope": "rocket:read"}, 400, "unknown resource: rocket"),
        ({"scope": "build"}, 400, "build"),
        ({"scope": ""}, 400, "scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, 400, "S256"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, 400, "code_challenge"),
        ({"response_type": "token"}, 400, "response_type must be code"),
    ],
)
def test_a_bad_authorization_request_is_an_error_page_never_a_redirect(
    alice: Browser, change: dict[str, str], status: int, message: str
) -> None:
    client_id, _ = register_app(alice)
    params = {**authorize_params(client_id), **change}

    shown = alice.get("/login/oauth/authorize", params=params)
    posted = alice.submit("/settings", "/login/oauth/authorize", {**params, "decision": "approve"})

    for response in (shown, posted):
        assert response.status_code == status, response.text
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert message in page_text(response)


def test_a_bad_request_is_refused_before_asking_to_sign_in(browser: Browser) -> None:
    response = browser.get("/login/oauth/authorize", params={"client_id": "0" * 32})

    assert response.status_code == 404
    assert "location" not in response.headers


def test_the_consent_form_needs_its_csrf_token(alice: Browser) -> None:
    client_id, _ = register_app(alice)
    page = alice.get("/login/oauth/authorize", params=authorize_params(client_id))
    fields = {k: v for k, v in consent_fields(page).items() if k != "csrf_token"}

    response = alice.post("/login/oauth/authorize", {**fields, "decision": "approve"})

    assert response.status_code == 403
    assert "location" not in response.headers


def test_consent_posted_without_a_session_asks_to_sign_in(alice: Browser, client: Client) -> None:
    client_id, _ = register_app(alice)
    stranger = Browser(client)
    params = authorize_params(client_id)

    response = stranger.submit(
        "/login", "/login/oauth/authorize", {**params, "decision": "approve"}
    )

    assert response.status_code == 303
    assert response.headers["location"].startswith(
        "/login?redirect_uri=%2Flogin%2Foauth%2Fauthorize"
    )


def test_a_pkce_code_needs_the_matching_verifier(alice: Browser, client: Client) -> None:
    client_id, secret = register_app(alice)
    pkce = {"code_challenge": challenge(VERIFIER), "code_challenge_method": "S256"}
    missing = exchange(client, client_id, secret, code_for(alice, client_id, **pkce))
    wrong = exchange(
        client,
        client_id,
        secret,
        code_for(alice, client_id, **pkce),
        extra={"code_verifier": "w" * 43},
    )
    right = exchange(
        client,
        client_id,
        secret,
        code_for(alice, client_id, **pkce),
        extra={"code_verifier": VERIFIER},
    )

    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_grant"
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "code_verifier does not match the code_challenge",
    }
    assert right.status_code == 200
