"""Personal access tokens on the web pages: made, listed, changed, regenerated, deleted,
and never visible to another user."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from infrastructure.bootstrap import Marid
from tests.conftest import Client
from tests.web.conftest import Browser, page_text

TOKEN = re.compile(r"marid_[0-9a-f]{40}")
EDIT = re.compile(r'href="/settings/tokens/(\d+)"')


def create(browser: Browser, name: str = "laptop", *scopes: str, **fields: str) -> str:
    """Make a token on the form; its value, as the next page shows it once."""
    sent = {"name": name, "scope": list(scopes or ("build:read",)), **fields}
    response = browser.submit("/settings/tokens/create", "/settings/tokens", sent)
    assert response.status_code == 303, response.text
    shown = TOKEN.findall(browser.follow(response).text)
    assert len(shown) == 1
    return shown[0]


def token_id(browser: Browser) -> int:
    found = EDIT.search(browser.get("/settings/tokens").text)
    assert found
    return int(found.group(1))


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_a_new_token_is_shown_once_and_works_on_the_api(alice: Browser, client: Client) -> None:
    value = create(alice, "laptop", "build:read", "namespace:read")

    listed = alice.get("/settings/tokens")
    user = client.get("/api/user", headers=bearer(value))
    builds = client.get("/api/builds", headers=bearer(value))
    write = client.post("/api/namespaces", json={"name": "proj"}, headers=bearer(value))

    assert "laptop" in listed.text
    assert "build:read namespace:read" in listed.text
    assert not TOKEN.search(listed.text)  # shown once only
    assert user.status_code == 200
    assert user.json()["username"] == "alice"
    assert builds.status_code == 200
    assert write.status_code == 403  # namespace:write was not chosen


def test_the_list_shows_created_last_used_and_expiry(
    alice: Browser, client: Client, marid: Marid
) -> None:
    value = create(alice, "ci", "build:read", expires_in="30")
    now = marid.clock()
    client.get("/api/user", headers=bearer(value))

    listed = alice.get("/settings/tokens").text

    row = listed[listed.index("<td>ci</td>") :]
    row = row[: row.index("</tr>")]
    assert now.strftime("%Y-%m-%d") in row
    assert "never" not in row  # it was used, and it expires
    assert (now + timedelta(days=30)).strftime("%Y-%m-%d") in row


def test_the_create_form_offers_every_scope_in_words(alice: Browser) -> None:
    page = alice.get("/settings/tokens/create")

    assert page.status_code == 200
    assert page.text.count('type="checkbox" name="scope"') == 27
    assert 'value="webhook:delete"' in page.text
    assert "Read your builds" in page.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Name field required"),
        ({"name": "x" * 65}, "name", "Name must be between 1 and 64 characters"),
        ({"scope": ["build:fly"]}, "scope", "unknown permission: fly"),
        ({"scope": ["rocket:read"]}, "scope", "unknown resource: rocket"),
        ({"expires_in": "3"}, "expires_in", "Expires must be one of the choices offered"),
        # Past any date: refused as a choice not offered, never turned into one (a 500).
        ({"expires_in": "99999999"}, "expires_in", "Expires must be one of the choices"),
        ({"expires_in": "\u00b2"}, "expires_in", "Expires must be one of the choices"),
    ],
)
def test_a_refused_token_shows_the_form_again(
    alice: Browser, fields: dict[str, object], field: str, message: str
) -> None:
    sent = {"name": "laptop", "scope": ["build:read"], **fields}

    response = alice.submit("/settings/tokens/create", "/settings/tokens", sent)

    assert response.status_code == 400
    assert f'id="{field}-errors"' in response.text
    assert message in page_text(response)
    assert not TOKEN.search(response.text)


def test_a_token_name_is_unique_per_user(alice: Browser, bob: Browser) -> None:
    create(alice, "laptop")

    again = alice.submit("/settings/tokens/create", "/settings/tokens", {"name": "Laptop"})
    create(bob, "laptop")  # another user's may share it

    assert again.status_code == 400
    assert "Name already exists" in again.text


def test_a_token_is_renamed_and_rescoped(alice: Browser, client: Client) -> None:
    value = create(alice, "laptop", "build:read")
    one = f"/settings/tokens/{token_id(alice)}"
    fields = {"_method": "PATCH", "name": "desktop", "scope": ["namespace:read", "namespace:write"]}

    response = alice.submit(one, one, fields)

    assert response.status_code == 303
    listed = alice.get("/settings/tokens").text
    assert "desktop" in listed
    assert "namespace:read,write" in listed
    assert client.get("/api/builds", headers=bearer(value)).status_code == 403
    made = client.post("/api/namespaces", json={"name": "proj"}, headers=bearer(value))
    assert made.status_code == 201, made.text


def test_the_real_patch_method_renames_a_token(alice: Browser) -> None:
    create(alice, "laptop")
    one = f"/settings/tokens/{token_id(alice)}"

    response = alice.submit(one, one, {"name": "desktop", "scope": "build:read"}, method="PATCH")

    assert response.status_code == 303
    assert "desktop" in alice.get("/settings/tokens").text


def test_a_refused_rename_shows_the_form_again(alice: Browser) -> None:
    create(alice, "laptop")
    create(alice, "desktop")
    one = f"/settings/tokens/{token_id(alice)}"

    response = alice.submit(one, one, {"_method": "PATCH", "name": "desktop"})

    assert response.status_code == 400
    assert "Name already exists" in response.text


def test_a_regenerated_token_has_a_new_value_and_the_old_stops(
    alice: Browser, client: Client
) -> None:
    old = create(alice, "laptop")
    one = f"/settings/tokens/{token_id(alice)}"

    response = alice.submit(one, f"{one}/regenerate", {"_method": "PATCH"})

    new = TOKEN.findall(alice.follow(response).text)
    assert len(new) == 1
    assert new[0] != old
    assert client.get("/api/user", headers=bearer(old)).status_code == 401
    assert client.get("/api/user", headers=bearer(new[0])).status_code == 200


@pytest.mark.parametrize("how", ["form", "delete method"])
def test_a_deleted_token_stops_working(alice: Browser, client: Client, how: str) -> None:
    value = create(alice, "laptop")
    one = f"/settings/tokens/{token_id(alice)}"

    if how == "form":
        response = alice.submit(one, one, {"_method": "DELETE"})
    else:
        token = alice.csrf(one)
        response = alice.request("DELETE", one, headers={"X-CSRF-Token": token})

    assert response.status_code == 303
    assert "laptop" not in alice.get("/settings/tokens").text
    assert client.get("/api/user", headers=bearer(value)).status_code == 401
    assert alice.get(one).status_code == 404


def test_a_delete_without_csrf_token_is_forbidden(alice: Browser, client: Client) -> None:
    value = create(alice, "laptop")
    one = f"/settings/tokens/{token_id(alice)}"

    response = alice.request("DELETE", one)

    assert response.status_code == 403
    assert client.get("/api/user", headers=bearer(value)).status_code == 200


def test_an_unknown_method_override_is_refused(alice: Browser) -> None:
    create(alice, "laptop")
    one = f"/settings/tokens/{token_id(alice)}"

    response = alice.submit(one, one, {"_method": "PUT"})

    assert response.status_code == 405


def test_another_users_token_is_not_found(alice: Browser, bob: Browser, client: Client) -> None:
    value = create(alice, "laptop")
    one = f"/settings/tokens/{token_id(alice)}"

    page = bob.get(one)
    renamed = bob.submit("/settings", one, {"_method": "PATCH", "name": "mine"})
    regenerated = bob.submit("/settings", f"{one}/regenerate", {"_method": "PATCH"})
    deleted = bob.submit("/settings", one, {"_method": "DELETE"})

    assert [r.status_code for r in (page, renamed, regenerated, deleted)] == [404] * 4
    assert "laptop" not in bob.get("/settings/tokens").text
    assert "laptop" in alice.get("/settings/tokens").text
    assert client.get("/api/user", headers=bearer(value)).status_code == 200
