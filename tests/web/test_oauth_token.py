"""The token endpoint (`POST /login/oauth/token`) and revocation: RFC 6749 answers."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs

import pytest

from infrastructure.bootstrap import Marid
from tests.conftest import Client
from tests.web.conftest import Browser
from tests.web.oauth_support import CALLBACK, bearer, code_for, exchange, register_app


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}", "Accept": "application/json"}


def test_the_answer_is_form_encoded_when_json_is_not_accepted(
    alice: Browser, client: Client
) -> None:
    client_id, secret = register_app(alice)
    code = code_for(alice, client_id, "build:read,write")

    response = exchange(client, client_id, secret, code, accept="*/*")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert response.headers["cache-control"] == "no-store"
    fields = parse_qs(response.text)
    assert fields["token_type"] == ["bearer"]
    assert fields["scope"] == ["build:read,write"]
    assert list(fields) == ["access_token", "scope", "token_type"]  # keys sorted, as Djinn
    assert client.get("/api/user", headers=bearer(fields["access_token"][0])).status_code == 200


def test_djinns_secret_field_is_accepted(alice: Browser, client: Client) -> None:
    client_id, secret = register_app(alice)
    code = code_for(alice, client_id)

    response = exchange(client, client_id, None, code, extra={"secret": secret, "grant_type": None})

    assert response.status_code == 200, response.text


def test_http_basic_client_authentication(alice: Browser, client: Client) -> None:
    client_id, secret = register_app(alice)
    code = code_for(alice, client_id)

    response = client.post(
        "/login/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        headers=basic(client_id, secret),
    )

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Bearer abc"},
    ],
)
def test_a_malformed_authorization_header_is_invalid_client(
    alice: Browser, client: Client, headers: dict[str, str]
) -> None:
    client_id, _ = register_app(alice)
    code = code_for(alice, client_id)

    response = client.post("/login/oauth/token", data={"code": code}, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_a_wrong_secret_is_invalid_client(alice: Browser, client: Client) -> None:
    client_id, _ = register_app(alice)
    code = code_for(alice, client_id)

    response = exchange(client, client_id, "0" * 64, code)
    basic_response = client.post(
        "/login/oauth/token", data={"code": code}, headers=basic(client_id, "0" * 64)
    )

    for refused in (response, basic_response):
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "invalid_client",
            "error_description": "Failed to authenticate",
        }
        assert refused.headers["www-authenticate"] == 'Basic realm="marid"'
        assert refused.headers["cache-control"] == "no-store"


def test_an_unknown_client_is_invalid_client(alice: Browser, client: Client) -> None:
    response = exchange(client, "f" * 32, "0" * 64, "c" * 32)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_code_is_used_once(alice: Browser, client: Client) -> None:
    client_id, secret = register_app(alice)
    code = code_for(alice, client_id)

    first = exchange(client, client_id, secret, code)
    again = exchange(client, client_id, secret, code)

    assert first.status_code == 200
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_a_code_expires_after_ten_minutes(alice: Browser, client: Client, marid: Marid) -> None:
    client_id, secret = register_app(alice)
    code = code_for(alice, client_id)
    issued = marid.app.clock()
    marid.app.clock = lambda: issued + timedelta(minutes=10, seconds=1)

    response = exchange(client, client_id, secret, code)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "The code expired"}


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"code": ""}, 400, "invalid_request"),
        ({"code": "0" * 32}, 400, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:8765/other"}, 400, "invalid_grant"),
        ({"code_verifier": "v" * 43}, 400, "invalid_grant"),  # the code had no challenge
        ({"client_id": "a\x00b"}, 400, "invalid_request"),
    ],
)
def test_a_refused_exchange_is_rfc6749_json(
    alice: Browser, client: Client, fields: dict[str, str | None], status: int, error: str
) -> None:
    client_id, secret = register_app(alice)
    code = code_for(alice, client_id)

    response = exchange(client, client_id, secret, code, extra=fields)

    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_a_parameter_sent_twice_is_invalid_request(alice: Browser, client: Client) -> None:
    client_id, secret = register_app(alice)
    code = code_for(alice, client_id)

    response = client.post(
        "/login/oauth/token",
        content=f"client_id={client_id}&client_secret={secret}&code={code}&code={code}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_another_apps_code_is_invalid_grant(alice: Browser, client: Client) -> None:
    client_id, _ = register_app(alice, "One")
    other_id, other_secret = register_app(alice, "Two")
    code = code_for(alice, client_id)

    response = exchange(client, other_id, other_secret, code)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_revoke_needs_a_live_bearer_token(client: Client) -> None:
    missing = client.post("/logout/oauth/revoke")
    unknown = client.post("/logout/oauth/revoke", headers=bearer("marid_" + "0" * 40))

    for refused in (missing, unknown):
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        assert refused.headers["www-authenticate"].startswith("Bearer")
