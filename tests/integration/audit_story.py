"""A short history for the audit tests: alice creates, changes and deletes a namespace,
a masked variable, a cron and a build over HTTP, each request with a known request id.

The instants between the three acts are taken from the clock the events are stamped
with, so each lies between the events before and after it (no sleeps).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from domain.scopes import Scopes
from infrastructure.bootstrap import Marid
from infrastructure.tokens import generate_token, hash_token
from tests.conftest import TEST_ORIGIN, Users
from tests.helpers import Auth, Client

MANIFEST = "driver: {type: os}\nstages: [test]\njobs:\n- stage: test\n  commands: [true]\n"
SECRET_VALUE = "hunter2-plaintext"


@dataclass(frozen=True)
class Story:
    alice: Auth
    admin: Auth
    alice_id: int
    namespace_id: int
    variable_id: int
    cron_id: int
    build_id: int
    created: datetime  # after act 1: everything exists
    changed: datetime  # after act 2: description, cron name changed; build killed
    deleted: datetime  # after act 3: namespace, variable and cron deleted


def create_admin(marid: Marid, username: str = "root") -> Auth:
    """An administrator, as `marid users create --admin` makes one, with a token."""
    user_id = marid.app.register_user(
        username, f"{username}@example.com", TEST_ORIGIN, admin=True
    ).value
    token = generate_token()
    outcome = marid.app.create_token(
        user_id, "test", hash_token(token), Scopes.all(), None, TEST_ORIGIN
    )
    marid.settle(outcome)
    return {"Authorization": f"Bearer {token}"}


def call(client: Client, method: str, url: str, auth: Auth, request_id: str, **kw: object) -> dict:
    response = client.request(method, url, headers={**auth, "X-Request-Id": request_id}, **kw)
    assert response.status_code < 300, response.text
    return response.json() if response.content else {}


def tell(client: Client, users: Users, marid: Marid) -> Story:
    alice_id, alice = users.create("alice")
    admin = create_admin(marid)
    ns = call(
        client,
        "POST",
        "/api/namespaces",
        alice,
        "req-ns-create",
        json={"name": "djinn", "description": "first"},
    )
    var = call(
        client,
        "POST",
        "/api/variables",
        alice,
        "req-var-create",
        json={"key": "SECRET", "value": SECRET_VALUE, "mask": True},
    )
    cron = call(
        client,
        "POST",
        "/api/cron",
        alice,
        "req-cron-create",
        json={"name": "nightly", "schedule": "daily", "manifest": MANIFEST},
    )
    build = call(
        client, "POST", "/api/builds", alice, "req-build-create", json={"manifest": MANIFEST}
    )
    created = datetime.now(UTC)
    call(
        client,
        "PATCH",
        "/api/n/alice/djinn",
        alice,
        "req-ns-update",
        json={"description": "second"},
    )
    call(
        client,
        "PATCH",
        f"/api/cron/{cron['id']}",
        alice,
        "req-cron-update",
        json={"name": "weekly"},
    )
    call(client, "DELETE", f"/api/b/alice/{build['number']}", alice, "req-build-kill")
    changed = datetime.now(UTC)
    call(client, "DELETE", f"/api/variables/{var['id']}", alice, "req-var-delete")
    call(client, "DELETE", f"/api/cron/{cron['id']}", alice, "req-cron-delete")
    call(client, "DELETE", "/api/n/alice/djinn", alice, "req-ns-delete")
    deleted = datetime.now(UTC)
    return Story(
        alice,
        admin,
        alice_id,
        ns["id"],
        var["id"],
        cron["id"],
        build["id"],
        created,
        changed,
        deleted,
    )
