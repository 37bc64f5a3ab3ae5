"""What the API tests share: constants, request helpers, assertions and test-only setup.

Fixtures are in `tests/conftest.py` (every test) and `tests/api/conftest.py` (API tests).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from application.core import Outcome
from domain.scopes import Scopes
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from infrastructure.tokens import generate_token, hash_token
from tests.conftest import TEST_ORIGIN

Client = TestClient[Litestar]
Auth = dict[str, str]
BASE = "http://testserver.local/api"
NOT_FOUND = {"message": "Not Found"}
DENIED = {"message": "Namespace permission denied"}
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
LONG = "x" * 256
BOUNDARY = "marid-test-boundary"
READERS = {
    # visibility -> (anonymous, another signed-in user, owner)
    "public": (200, 200, 200),
    "internal": (404, 200, 200),
    "private": (404, 404, 200),
}


def create_ns(client: Client, auth: Auth, name: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/namespaces", json={"name": name, **fields}, headers=auth)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()]


def links(response: Any) -> dict[str, str]:
    """The `Link` header as rel -> URL."""
    found = re.findall(r'<([^>]*)>; rel="(\w+)"', response.headers["link"])
    return {rel: url for url, rel in found}


def token_for(
    marid: Marid,
    user_id: int,
    scopes: str | None = None,
    expires_at: datetime | None = None,
    name: str = "extra",
) -> tuple[int, Auth]:
    """Another token of an existing user (all scopes by default): its id and its header."""
    secret = generate_token()
    granted = Scopes.parse(scopes) if scopes is not None else Scopes.all()
    outcome = marid.app.create_token(
        user_id, name, hash_token(secret), granted, expires_at, TEST_ORIGIN
    )
    return marid.settle(outcome), {"Authorization": f"Bearer {secret}"}


def token(marid: Marid, user_id: int, scopes: str) -> Auth:
    """The Authorization header of another token of an existing user."""
    return token_for(marid, user_id, scopes, name="limited")[1]


def add_collaborator_row(marid: Marid, root_id: int, user_id: int) -> None:
    """Make a user a collaborator of a tree in the read model only (what reads and lists use)."""
    with marid.datastore.transaction(commit=True) as curs:
        curs.execute(
            "INSERT INTO collaborators (root_id, user_id, created_at) VALUES (%s, %s, now())",
            (root_id, user_id),
        )


def add_collaborator(marid: Marid, root_id: int, user_id: int) -> None:
    """Make a user a collaborator of a tree, as accepting an invite does, and wait for it.

    Shorter than sending and accepting an invite: the root's own command, saved, then
    settled into the read model.
    """
    root = marid.app.namespace(root_id)
    assert root is not None
    root.add_collaborator(user_id, TEST_ORIGIN)
    marid.settle(Outcome(None, marid.app.save(root)))


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")


def assert_lacks_scope(response: Any, scope: str) -> None:
    assert response.status_code == 403
    assert scope in response.json()["message"]
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{scope}"'
    )


def stored_files(settings: Settings) -> list[Path]:
    """Every file in the blob store, temporary ones included."""
    root = settings.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def event_states(marid: Marid) -> bytes:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT state FROM marid_events ORDER BY notification_id")
        return b"\n".join(bytes(row["state"]) for row in curs.fetchall())
