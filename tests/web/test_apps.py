"""OAuth apps a user registers and apps a user connected, on the pages; never another's."""

from __future__ import annotations

import pytest

from tests.conftest import Client
from tests.web.conftest import Browser, page_text
from tests.web.oauth_support import SECRET, bearer, code_for, exchange, register_app

APP_FIELDS = {
    "name": "Builder",
    "description": "Builds things",
    "homepage_uri": "https://builder.example/",
    "redirect_uri": "http://127.0.0.1:8765/callback",
}


def test_a_registered_app_shows_its_client_id_and_its_secret_once(alice: Browser) -> None:
    client_id, secret = register_app(alice)

    page = alice.get(f"/settings/apps/{client_id}")
    listed = alice.get("/settings/apps")

    assert page.status_code == 200
    assert client_id in page.text
    assert secret not in page.text
    assert not SECRET.search(page.text)
    assert "/login/oauth/authorize" in page.text
    assert "Builder" in listed.text
    assert f'href="/settings/apps/{client_id}"' in listed.text


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "Name field required"),
        ({"homepage_uri": ""}, "homepage_uri", "field required"),
        ({"redirect_uri": "not a url"}, "redirect_uri", "absolute http or https URL"),
        ({"redirect_uri": "ftp://host/cb"}, "redirect_uri", "absolute http or https URL"),
        ({"redirect_uri": "https://host/cb#frag"}, "redirect_uri", "fragment"),
    ],
)
def test_a_refused_app_shows_the_form_again(
    alice: Browser, change: dict[str, str], field: str, message: str
) -> None:
    response = alice.submit("/settings/apps/create", "/settings/apps", {**APP_FIELDS, **change})

    assert response.status_code == 400
    assert f'id="{field}-errors"' in response.text
    assert message in page_text(response)


def test_an_app_name_is_unique_per_user(alice: Browser) -> None:
    register_app(alice)

    again = alice.submit("/settings/apps/create", "/settings/apps", APP_FIELDS)

    assert again.status_code == 400
    assert "Name already exists" in again.text


@pytest.mark.parametrize("how", ["form", "patch method"])
def test_an_app_is_changed(alice: Browser, how: str) -> None:
    client_id, _ = register_app(alice)
    one = f"/settings/apps/{client_id}"
    fields = {**APP_FIELDS, "name": "Renamed", "homepage_uri": "https://renamed.example/"}

    if how == "form":
        response = alice.submit(one, one, {"_method": "PATCH", **fields})
    else:
        response = alice.submit(one, one, fields, method="PATCH")

    assert response.status_code == 303
    page = alice.follow(response)
    assert "The app was saved." in page.text
    assert "Renamed" in page.text
    assert "https://renamed.example/" in page.text


def test_a_refused_change_shows_the_form_again(alice: Browser) -> None:
    client_id, _ = register_app(alice)
    one = f"/settings/apps/{client_id}"

    response = alice.submit(one, one, {"_method": "PATCH", **APP_FIELDS, "redirect_uri": ""})

    assert response.status_code == 400
    assert 'id="redirect_uri-errors"' in response.text


def test_a_reset_secret_replaces_the_old_one(alice: Browser, client: Client) -> None:
    client_id, old = register_app(alice)
    one = f"/settings/apps/{client_id}"

    response = alice.submit(one, f"{one}/reset", {"_method": "PATCH"})

    new = SECRET.findall(alice.follow(response).text)
    assert len(new) == 1
    assert new[0] != old
    refused = exchange(client, client_id, old, code_for(alice, client_id))
    accepted = exchange(client, client_id, new[0], code_for(alice, client_id))
    assert refused.status_code == 401
    assert accepted.status_code == 200


def test_revoking_an_apps_tokens_stops_them(alice: Browser, bob: Browser, client: Client) -> None:
    client_id, secret = register_app(alice)
    tokens = [
        exchange(client, client_id, secret, code_for(user, client_id)).json()["access_token"]
        for user in (alice, bob)
    ]
    one = f"/settings/apps/{client_id}"

    response = alice.submit(one, f"{one}/revoke", {"_method": "PATCH"})

    assert "2 tokens were revoked." in alice.follow(response).text
    for token in tokens:
        assert client.get("/api/user", headers=bearer(token)).status_code == 401


def test_a_deleted_app_is_gone_with_its_tokens(alice: Browser, client: Client) -> None:
    client_id, secret = register_app(alice)
    token = exchange(client, client_id, secret, code_for(alice, client_id)).json()["access_token"]
    one = f"/settings/apps/{client_id}"

    response = alice.submit(one, one, {"_method": "DELETE"})

    assert response.status_code == 303
    assert alice.get(one).status_code == 404
    assert client_id not in alice.get("/settings/apps").text
    assert client.get("/api/user", headers=bearer(token)).status_code == 401


def test_another_users_app_is_not_found(alice: Browser, bob: Browser, client: Client) -> None:
    client_id, secret = register_app(alice)
    one = f"/settings/apps/{client_id}"

    answers = [
        bob.get(one),
        bob.submit("/settings", one, {"_method": "PATCH", **APP_FIELDS, "name": "Mine"}),
        bob.submit("/settings", f"{one}/reset", {"_method": "PATCH"}),
        bob.submit("/settings", f"{one}/revoke", {"_method": "PATCH"}),
        bob.submit("/settings", one, {"_method": "DELETE"}),
    ]

    assert [a.status_code for a in answers] == [404] * 5
    assert client_id not in bob.get("/settings/apps").text
    assert exchange(client, client_id, secret, code_for(alice, client_id)).status_code == 200


@pytest.mark.parametrize("how", ["form", "delete method"])
def test_a_connected_app_is_listed_in_words_and_can_be_revoked(
    alice: Browser, bob: Browser, client: Client, how: str
) -> None:
    client_id, secret = register_app(alice)
    code = code_for(bob, client_id, "build:read,write")
    token = exchange(client, client_id, secret, code).json()["access_token"]

    listed = bob.get("/settings/connections")
    personal = bob.get("/settings/tokens")
    action = listed.text.split('action="/settings/connections/', 1)[1].split('"', 1)[0]
    one = f"/settings/connections/{action}"
    if how == "form":
        revoked = bob.submit("/settings/connections", one, {"_method": "DELETE"})
    else:
        token_header = {"X-CSRF-Token": bob.csrf("/settings/connections")}
        revoked = bob.request("DELETE", one, headers=token_header)

    assert "Builder" in listed.text
    assert "Read your builds" in listed.text
    assert "Submit builds and tag them" in listed.text
    assert "client." not in personal.text  # an app's token is not a personal token
    assert revoked.status_code == 303
    assert "Builder" not in bob.get("/settings/connections").text
    assert client.get("/api/user", headers=bearer(token)).status_code == 401


def test_another_users_connection_cannot_be_revoked(
    alice: Browser, bob: Browser, client: Client
) -> None:
    client_id, secret = register_app(alice)
    token = exchange(client, client_id, secret, code_for(alice, client_id)).json()["access_token"]
    listed = alice.get("/settings/connections").text
    action = listed.split('action="/settings/connections/', 1)[1].split('"', 1)[0]

    response = bob.submit(
        "/settings/connections", f"/settings/connections/{action}", {"_method": "DELETE"}
    )

    assert response.status_code == 404
    assert "Builder" not in bob.get("/settings/connections").text
    assert client.get("/api/user", headers=bearer(token)).status_code == 200
