"""The API answers its index and version; the pattern every API test follows."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.conftest import Users


def test_index_lists_resource_urls(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api")

    assert response.status_code == 200
    assert response.json()["namespaces_url"] == "http://testserver.local/api/namespaces"


def test_user_returns_the_token_owner(client: TestClient, users: Users) -> None:  # type: ignore[type-arg]
    user_id, auth = users.create("alice")

    response = client.get("/api/user", headers=auth)

    assert response.status_code == 200
    assert response.json()["id"] == user_id
    assert response.json()["username"] == "alice"
