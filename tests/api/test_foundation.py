"""The API foundation: index, version, user, tokens, scopes, the error table, paging, OpenAPI.

Namespace rules themselves are in `test_namespaces.py` and `test_namespace_access.py`; here
the namespace routes serve as the write routes every rule of CONTRACT.md must hold on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar import post
from litestar.di import NamedDependency
from litestar.exceptions import ImproperlyConfiguredException
from litestar.params import JSONBody
from litestar.testing import RequestFactory, TestClient

from api import paging
from api.app import create_app
from api.auth import Caller
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from infrastructure.tokens import hash_token
from projections.rows import Page
from tests.conftest import TEST_ORIGIN, Users
from tests.helpers import RFC3339_Z, Auth, Client, token_for

RESOURCES = ("builds", "namespaces", "cron", "invites", "images", "objects", "variables", "keys")
WRITE_ROUTES = [
    ("POST", "/api/namespaces"),
    ("PATCH", "/api/n/alice/proj"),
    ("DELETE", "/api/n/alice/proj"),
]
UNDECODABLE = [
    b"{bad",
    b'{"name": "proj2",}',
    b"[1, 2]",
    b'"text"',
    b"null",
    b"42",
    b"\xff\xfe",
    b"[" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def alice(client: Client, users: Users) -> tuple[int, Auth]:
    """alice, with an all-scope token and a namespace `proj`."""
    user_id, auth = users.create("alice")
    response = client.post("/api/namespaces", json={"name": "proj"}, headers=auth)
    assert response.status_code == 201, response.text
    return user_id, auth


def send(client: Client, method: str, path: str, body: bytes, auth: Auth) -> Any:
    return client.request(method, path, content=body, headers={**auth, **JSON})


def assert_proj_unchanged(client: Client, auth: Auth) -> None:
    response = client.get("/api/n/alice/proj", headers=auth)
    assert response.status_code == 200
    assert response.json()["description"] == ""
    assert response.json()["visibility"] == "private"


# --- index, version, user -------------------------------------------------------------


def test_index_lists_every_resource_url(client: Client) -> None:
    response = client.get("/api")

    assert response.status_code == 200
    assert response.json() == {
        f"{name}_url": f"http://testserver.local/api/{name}" for name in RESOURCES
    }


def test_version_returns_the_build(client: Client) -> None:
    response = client.get("/version")

    assert response.status_code == 200
    assert set(response.json()) == {"build"}
    assert response.json()["build"]


def test_responses_are_json_in_utf8(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    answers = [
        client.get("/api"),
        client.get("/api/user", headers=auth),
        client.get("/api/nope"),
        client.post("/api/namespaces", content=b"{bad", headers={**auth, **JSON}),
    ]

    assert [r.headers["content-type"] for r in answers] == [
        "application/json; charset=utf-8"
    ] * len(answers)


def test_user_answers_with_the_token_owner(client: Client, users: Users) -> None:
    user_id, auth = users.create("alice")

    response = client.get("/api/user", headers=auth)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "username", "email", "created_at"}
    assert (body["id"], body["username"], body["email"]) == (
        user_id,
        "alice",
        "alice@example.com",
    )
    assert RFC3339_Z.match(body["created_at"])


def test_user_needs_a_valid_token_but_no_scope(client: Client, users: Users) -> None:
    _, auth = users.create("alice", scopes="build:read")

    response = client.get("/api/user", headers=auth)

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


# --- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/user"), ("GET", "/api/namespaces"), *WRITE_ROUTES],
)
def test_missing_token_is_401_with_www_authenticate(
    client: Client, alice: tuple[int, Auth], method: str, path: str
) -> None:
    response = client.request(method, path, json={})

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer marid_0000000000000000000000000000000000000000",
        "Bearer not-a-token",
        "Bearer ",
        "Basic YWxpY2U6c2VjcmV0",
        "marid_0000000000000000000000000000000000000000",
    ],
)
def test_bad_token_is_401_with_www_authenticate(client: Client, users: Users, header: str) -> None:
    users.create("alice")

    response = client.get("/api/user", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_write_without_token_is_401_before_the_body_is_read(
    client: Client, alice: tuple[int, Auth]
) -> None:
    responses = [
        client.request(method, path, content=b"{bad", headers=JSON) for method, path in WRITE_ROUTES
    ]

    assert [r.status_code for r in responses] == [401, 401, 401]
    assert_proj_unchanged(client, alice[1])


def test_bad_token_is_401_before_the_body_is_read(client: Client, alice: tuple[int, Auth]) -> None:
    bad = {"Authorization": "Bearer marid_0000000000000000000000000000000000000000"}

    response = send(client, "POST", "/api/namespaces", b"{bad", bad)

    assert response.status_code == 401


def test_expired_token_is_401(client: Client, marid: Marid, users: Users) -> None:
    user_id, _ = users.create("alice")
    _, expired = token_for(marid, user_id, expires_at=datetime.now(UTC) - timedelta(minutes=1))

    response = client.get("/api/user", headers=expired)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_token_before_its_expiry_is_accepted(client: Client, marid: Marid, users: Users) -> None:
    user_id, _ = users.create("alice")
    _, live = token_for(marid, user_id, expires_at=datetime.now(UTC) + timedelta(days=1))

    response = client.get("/api/user", headers=live)

    assert response.status_code == 200


def test_revoked_token_is_401(client: Client, marid: Marid, users: Users) -> None:
    user_id, _ = users.create("alice")
    token_id, revoked = token_for(marid, user_id)
    marid.settle(marid.app.revoke_token(token_id, TEST_ORIGIN))

    response = client.get("/api/user", headers=revoked)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoking_one_token_leaves_the_users_other_tokens_working(
    client: Client, marid: Marid, users: Users
) -> None:
    user_id, kept = users.create("alice")
    token_id, _ = token_for(marid, user_id)

    marid.settle(marid.app.revoke_token(token_id, TEST_ORIGIN))

    assert client.get("/api/user", headers=kept).status_code == 200


def test_token_is_stored_only_as_its_sha256_hash(
    client: Client, marid: Marid, users: Users, database: str
) -> None:
    _, auth = users.create("alice")
    token = auth["Authorization"].removeprefix("Bearer ")

    with psycopg.connect(database) as conn:
        events_with_token, events_with_hash = conn.execute(
            "SELECT count(*) FILTER (WHERE position(%s::bytea IN state) > 0), "
            "count(*) FILTER (WHERE position(%s::bytea IN state) > 0) "
            f"FROM {marid.app.name.lower()}_events",
            (token.encode(), hash_token(token).encode()),
        ).fetchone() or (None, None)
        rows_with_token, rows_with_hash = conn.execute(
            "SELECT count(*) FILTER (WHERE t::text LIKE %s), "
            "count(*) FILTER (WHERE token_hash = %s) FROM tokens t",
            (f"%{token}%", hash_token(token)),
        ).fetchone() or (None, None)

    assert (events_with_token, events_with_hash) == (0, 1)
    assert (rows_with_token, rows_with_hash) == (0, 1)


# --- scopes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "granted", "needed"),
    [
        ("GET", "/api/namespaces", "build:read,write,delete", "namespace:read"),
        ("POST", "/api/namespaces", "namespace:read,delete", "namespace:write"),
        ("PATCH", "/api/n/alice/proj", "namespace:read,delete", "namespace:write"),
        ("DELETE", "/api/n/alice/proj", "namespace:read,write", "namespace:delete"),
    ],
)
def test_token_without_the_routes_scope_is_403_naming_it(
    client: Client,
    marid: Marid,
    alice: tuple[int, Auth],
    method: str,
    path: str,
    granted: str,
    needed: str,
) -> None:
    _, auth = token_for(marid, alice[0], scopes=granted)
    body = None if method == "DELETE" else {"description": "changed"}

    response = client.request(method, path, json=body, headers=auth)

    assert response.status_code == 403
    assert needed in response.json()["message"]
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{needed}"'
    )
    assert_proj_unchanged(client, alice[1])


def test_scope_is_checked_before_the_resource_is_looked_up(
    client: Client, marid: Marid, alice: tuple[int, Auth]
) -> None:
    _, auth = token_for(marid, alice[0], scopes="namespace:read")

    response = client.delete("/api/n/alice/nosuch", headers=auth)

    assert response.status_code == 403


@post("/api/scoped", opt={"scope": "namespace:write"}, sync_to_thread=False)
def scoped_route(data: JSONBody[dict[str, str]], caller: NamedDependency[Caller]) -> None:
    """A route declaring its scope for the `authenticate` guard."""


@pytest.mark.parametrize(("granted", "status"), [("namespace:read", 403), (None, 400)])
def test_declared_scope_is_checked_before_the_body_is_decoded(
    settings: Settings, marid: Marid, users: Users, granted: str | None, status: int
) -> None:
    _, auth = users.create("alice", scopes=granted)
    app = create_app(settings, marid=marid)
    app.register(scoped_route)

    with TestClient(app) as client:
        response = client.post("/api/scoped", content=b"{bad", headers={**auth, **JSON})

    assert response.status_code == status


# --- the error table --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/api/n", "/api/namespaces/1/x"])
def test_unknown_route_is_404_not_found(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/namespaces"),
        ("PUT", "/api/namespaces"),
        ("POST", "/api"),
        ("PUT", "/api/user"),
        ("POST", "/version"),
        ("PUT", "/api/n/alice/proj"),
    ],
)
def test_route_without_the_method_is_405(
    client: Client, alice: tuple[int, Auth], method: str, path: str
) -> None:
    response = client.request(method, path, headers=alice[1])

    assert response.status_code == 405
    assert response.json() == {"message": "Method Not Allowed"}


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
@pytest.mark.parametrize("body", UNDECODABLE, ids=lambda b: repr(b[:12]))
def test_undecodable_body_is_400_with_a_message(
    client: Client, alice: tuple[int, Auth], method: str, path: str, body: bytes
) -> None:
    response = send(client, method, path, body, alice[1])

    assert response.status_code == 400, response.text
    assert set(response.json()) == {"message"}
    assert isinstance(response.json()["message"], str)
    assert_proj_unchanged(client, alice[1])


@pytest.mark.parametrize(
    ("method", "path", "body", "fields"),
    [
        ("POST", "/api/namespaces", {"name": 1, "visibility": ["x"]}, {"name", "visibility"}),
        # "ok" is too short: its rule failure comes with the other field's type error
        (
            "POST",
            "/api/namespaces",
            {"name": "ok", "description": {"a": 1}},
            {"name", "description"},
        ),
        (
            "PATCH",
            "/api/n/alice/proj",
            {"description": 5, "visibility": True},
            {"description", "visibility"},
        ),
    ],
)
def test_wrong_types_are_400_naming_every_field(
    client: Client,
    alice: tuple[int, Auth],
    method: str,
    path: str,
    body: dict[str, Any],
    fields: set[str],
) -> None:
    response = client.request(method, path, json=body, headers=alice[1])

    assert response.status_code == 400
    assert set(response.json()) == fields
    assert all(isinstance(m, list) and m for m in response.json().values())
    assert_proj_unchanged(client, alice[1])


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/namespaces", {"name": "proj2", "colour": "red"}, 201),
        ("PATCH", "/api/n/alice/proj", {"description": "new", "colour": "red"}, 200),
        ("DELETE", "/api/n/alice/proj", {"colour": "red", "name": 1}, 204),
    ],
)
def test_unknown_fields_are_ignored(
    client: Client,
    alice: tuple[int, Auth],
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
) -> None:
    """As Djinn's server ignores them (CONTRACT.md); a DELETE reads no field at all."""
    response = client.request(method, path, json=body, headers=alice[1])

    assert response.status_code == status, response.text
    if status != 204:
        assert "colour" not in response.json()


def test_delete_with_an_empty_body_or_empty_object_is_accepted(
    client: Client, alice: tuple[int, Auth]
) -> None:
    client.post("/api/namespaces", json={"name": "other"}, headers=alice[1])

    first = send(client, "DELETE", "/api/n/alice/proj", b"", alice[1])
    second = send(client, "DELETE", "/api/n/alice/other", b"{}", alice[1])

    assert (first.status_code, second.status_code) == (204, 204)


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
def test_body_over_the_size_limit_is_413(
    client: Client, settings: Settings, alice: tuple[int, Auth], method: str, path: str
) -> None:
    body = b'{"description": "' + b"x" * settings.max_body_size + b'"}'

    response = send(client, method, path, body, alice[1])

    assert response.status_code == 413
    assert set(response.json()) == {"message"}
    assert_proj_unchanged(client, alice[1])


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/namespaces", {"name": "ok", "description": "a\x00b"}, "description"),
        ("POST", "/api/namespaces", {"name": "ok", "parent": "proj\x00"}, "parent"),
        ("PATCH", "/api/n/alice/proj", {"description": "a\x00b"}, "description"),
        ("DELETE", "/api/n/alice/proj", {"x\x00": 1}, "x\x00"),
    ],
)
def test_nul_characters_in_a_body_are_400_and_stop_no_read_model(
    client: Client,
    alice: tuple[int, Auth],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    response = client.request(method, path, json=body, headers=alice[1])
    after = client.post("/api/namespaces", json={"name": "after"}, headers=alice[1])

    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert after.status_code == 201
    assert_proj_unchanged(client, alice[1])


def test_nul_in_a_query_parameter_is_400(client: Client, alice: tuple[int, Auth]) -> None:
    response = client.get("/api/namespaces?search=%00&page=1", headers=alice[1])

    assert response.status_code == 400
    assert set(response.json()) == {"search"}


def test_nul_in_a_path_is_404(client: Client, alice: tuple[int, Auth]) -> None:
    response = client.get("/api/n/alice/pr%00oj", headers=alice[1])

    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_field_errors_collect_every_failed_rule(client: Client, alice: tuple[int, Auth]) -> None:
    body = {"name": "no way!", "visibility": "secret", "description": "x" * 300}

    response = client.post("/api/namespaces", json=body, headers=alice[1])

    assert response.status_code == 400
    assert set(response.json()) == {"name", "visibility", "description"}


@pytest.mark.parametrize("fault", [RuntimeError, ImproperlyConfiguredException])
def test_fault_is_500_with_a_request_id_and_no_internals(
    client: Client,
    marid: Marid,
    alice: tuple[int, Auth],
    monkeypatch: pytest.MonkeyPatch,
    fault: type[Exception],
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise fault("password=hunter2 at /srv/marid/secret.py line 7")

    monkeypatch.setattr(marid.namespaces, "list_for_member", broken)

    response = client.get("/api/namespaces", headers=alice[1])

    assert response.status_code == 500
    assert set(response.json()) == {"message", "request_id"}
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


# --- request ids ------------------------------------------------------------------------


def test_every_response_carries_a_request_id(client: Client) -> None:
    answers = [client.get("/api"), client.get("/nope"), client.post("/api")]

    ids = [r.headers.get("x-request-id") for r in answers]

    assert all(ids)
    assert len(set(ids)) == len(ids)


def test_a_well_formed_incoming_request_id_is_kept(client: Client) -> None:
    response = client.get("/api", headers={"X-Request-ID": "abc-123.def_4"})

    assert response.headers["x-request-id"] == "abc-123.def_4"


@pytest.mark.parametrize("incoming", ["a b", "x" * 65, "<script>", ""])
def test_a_malformed_incoming_request_id_is_replaced(client: Client, incoming: str) -> None:
    response = client.get("/api", headers={"X-Request-ID": incoming})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


# --- paging -----------------------------------------------------------------------------


def page_request(query: dict[str, str]) -> Any:
    return RequestFactory().get("/api/namespaces", query_params=dict(query))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, (1, 25)),
        ({"page": "3"}, (3, 25)),
        ({"page": "abc", "per_page": "x"}, (1, 25)),
        ({"page": "0", "per_page": "0"}, (1, 25)),
        ({"page": "-2", "per_page": "-5"}, (1, 25)),
        ({"page": "1.5", "per_page": "2.5"}, (1, 25)),
        ({"per_page": "1"}, (1, 1)),
        ({"per_page": "100"}, (1, 100)),
        ({"per_page": "101"}, (1, 100)),
        ({"per_page": "100000"}, (1, 100)),
    ],
)
def test_requested_page_and_size_default_and_clamp(
    query: dict[str, str], expected: tuple[int, int]
) -> None:
    request = page_request(query)

    assert paging.requested(request) == expected


def links(header: str) -> dict[str, str]:
    """`<url>; rel="x", ...` as {rel: url}."""
    return {rel: url for url, rel in re.findall(r'<([^>]*)>; rel="([^"]+)"', header)}


def test_link_header_points_at_prev_next_first_and_last_keeping_the_query() -> None:
    request = page_request({"search": "a b", "per_page": "3", "page": "2"})

    headers = paging.headers(request, Page.clamp(2, 3, 10))

    assert links(headers["Link"]) == {
        "prev": "/api/namespaces?per_page=3&search=a+b&page=1",
        "next": "/api/namespaces?per_page=3&search=a+b&page=3",
        "first": "/api/namespaces?per_page=3&search=a+b&page=1",
        "last": "/api/namespaces?per_page=3&search=a+b&page=4",
    }
    assert headers["X-Total-Count"] == "10"


def test_link_prev_and_next_are_clamped_to_the_first_and_last_page() -> None:
    request = page_request({})

    on_first = links(paging.headers(request, Page.clamp(1, 25, 60))["Link"])
    on_last = links(paging.headers(request, Page.clamp(3, 25, 60))["Link"])

    assert on_first["prev"] == on_first["first"] == "/api/namespaces?page=1"
    assert on_last["next"] == on_last["last"] == "/api/namespaces?page=3"


def test_link_of_an_empty_list_points_at_page_one() -> None:
    headers = paging.headers(page_request({}), Page.clamp(5, 25, 0))

    assert set(links(headers["Link"]).values()) == {"/api/namespaces?page=1"}
    assert headers["X-Total-Count"] == "0"


def create_namespaces(marid: Marid, owner_id: int, count: int) -> None:
    outcome = None
    for i in range(count):
        outcome = marid.app.create_namespace(owner_id, f"ns{i:02d}", None, None, None, TEST_ORIGIN)
    if outcome is not None:
        marid.settle(outcome)


def test_namespace_list_is_paged_25_per_page_with_links_and_total(
    client: Client, marid: Marid, users: Users
) -> None:
    user_id, auth = users.create("alice")
    create_namespaces(marid, user_id, 27)

    first = client.get("/api/namespaces", headers=auth)
    second = client.get("/api/namespaces?page=2", headers=auth)

    assert [ns["name"] for ns in first.json()] == [f"ns{i:02d}" for i in range(25)]
    assert [ns["name"] for ns in second.json()] == ["ns25", "ns26"]
    assert first.headers["x-total-count"] == second.headers["x-total-count"] == "27"
    assert links(second.headers["link"]) == {
        "prev": "/api/namespaces?page=1",
        "next": "/api/namespaces?page=2",
        "first": "/api/namespaces?page=1",
        "last": "/api/namespaces?page=2",
    }


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("per_page=2&page=2", ["ns02", "ns03"]),
        ("per_page=2&page=99", ["ns04"]),
        ("per_page=2&page=abc", ["ns00", "ns01"]),
        ("per_page=0", [f"ns{i:02d}" for i in range(5)]),
    ],
)
def test_namespace_list_honours_per_page_and_clamps_the_page(
    client: Client, marid: Marid, users: Users, query: str, names: list[str]
) -> None:
    user_id, auth = users.create("alice")
    create_namespaces(marid, user_id, 5)

    response = client.get(f"/api/namespaces?{query}", headers=auth)

    assert response.status_code == 200
    assert [ns["name"] for ns in response.json()] == names
    assert response.headers["x-total-count"] == "5"


# --- OpenAPI ----------------------------------------------------------------------------


def test_openapi_document_describes_every_route(client: Client) -> None:
    routes = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())
        for route in client.app.routes
        if not route.path.startswith("/api/schema")
        for handler in getattr(route, "route_handlers", ())
        if handler.resolve_include_in_schema()  # the web pages are not in the document
        for method in getattr(handler, "http_methods", ())
        if method not in ("OPTIONS", "HEAD")
    }

    response = client.get("/api/schema/openapi.json")

    assert response.status_code == 200
    documented = {
        (path, method) for path, item in response.json()["paths"].items() for method in item
    }
    assert routes
    assert routes <= documented
