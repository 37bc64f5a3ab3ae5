"""Who may read and write namespaces: visibility, ownership, scopes and the order of checks."""

from __future__ import annotations

import pytest

from infrastructure.bootstrap import Marid
from tests.conftest import Users
from tests.helpers import (
    BASE,
    LONG,
    READERS,
    Client,
    add_collaborator_row,
    assert_lacks_scope,
    assert_not_found,
    assert_unauthorized,
    token,
)
from tests.helpers import create_ns as create

# --- read rules --------------------------------------------------------------------------


@pytest.mark.parametrize("visibility", READERS)
@pytest.mark.parametrize("sub", ["", "/sub", "/sub/-/namespaces", "/-/namespaces"])
def test_read_access_follows_the_root_visibility(
    client: Client,
    alice: dict[str, str],
    bob: dict[str, str],
    visibility: str,
    sub: str,
) -> None:
    create(client, alice, "proj", visibility=visibility)
    create(client, alice, "sub", parent="proj")
    url = f"/api/n/alice/proj{sub}"

    answers = tuple(client.get(url, headers=h).status_code for h in ({}, bob, alice))

    assert answers == READERS[visibility]


@pytest.mark.parametrize("visibility", ["internal", "private"])
def test_hidden_namespace_answers_plain_not_found(
    client: Client, alice: dict[str, str], visibility: str
) -> None:
    create(client, alice, "proj", visibility=visibility)

    response = client.get("/api/n/alice/proj")

    assert_not_found(response)


def test_anonymous_caller_reads_a_public_namespace_in_full(
    client: Client, alice: dict[str, str]
) -> None:
    created = create(client, alice, "proj", visibility="public")

    response = client.get("/api/n/alice/proj")

    assert response.status_code == 200
    assert response.json() == created
    assert response.json()["url"] == f"{BASE}/n/alice/proj"


def test_collaborator_reads_every_namespace_of_a_private_tree(
    client: Client, users: Users, marid: Marid, alice: dict[str, str]
) -> None:
    bob_id, bob = users.create("bob")
    root = create(client, alice, "proj")
    create(client, alice, "sub", parent="proj")
    create(client, alice, "deep", parent="proj/sub")
    add_collaborator_row(marid, root["id"], bob_id)

    answers = [
        client.get(f"/api/n/alice/{path}", headers=bob).status_code
        for path in ("proj", "proj/sub", "proj/sub/deep", "proj/sub/-/namespaces")
    ]

    assert answers == [200, 200, 200, 200]


def test_collaborating_on_one_tree_reveals_no_other(
    client: Client, users: Users, marid: Marid, alice: dict[str, str]
) -> None:
    bob_id, bob = users.create("bob")
    root = create(client, alice, "proj")
    create(client, alice, "secret")
    add_collaborator_row(marid, root["id"], bob_id)

    response = client.get("/api/n/alice/secret", headers=bob)

    assert_not_found(response)


def test_making_a_namespace_private_hides_it_again(
    client: Client, alice: dict[str, str], bob: dict[str, str]
) -> None:
    create(client, alice, "proj", visibility="public")
    create(client, alice, "sub", parent="proj")
    assert client.get("/api/n/alice/proj/sub", headers=bob).status_code == 200

    client.patch("/api/n/alice/proj", json={"visibility": "private"}, headers=alice)

    assert_not_found(client.get("/api/n/alice/proj/sub", headers=bob))
    assert_not_found(client.get("/api/n/alice/proj/sub"))


def test_unknown_namespace_is_404_for_anonymous_callers(client: Client) -> None:
    response = client.get("/api/n/nobody/proj")

    assert_not_found(response)


# --- the personal list: owned and collaborated trees --------------------------------------


def test_list_holds_owned_and_collaborated_trees_by_path(
    client: Client, users: Users, marid: Marid, alice: dict[str, str]
) -> None:
    bob_id, bob = users.create("bob")
    shared = create(client, alice, "shared")
    create(client, alice, "sub", parent="shared")
    create(client, alice, "alone")
    create(client, bob, "mine")
    create(client, bob, "zed")
    add_collaborator_row(marid, shared["id"], bob_id)

    response = client.get("/api/namespaces", headers=bob)

    assert [(n["user"]["username"], n["path"]) for n in response.json()] == [
        ("bob", "mine"),
        ("alice", "shared"),
        ("alice", "shared/sub"),
        ("bob", "zed"),
    ]
    assert response.headers["x-total-count"] == "4"


def test_search_applies_to_collaborated_trees_too(
    client: Client, users: Users, marid: Marid, alice: dict[str, str]
) -> None:
    bob_id, bob = users.create("bob")
    shared = create(client, alice, "shared")
    create(client, alice, "sub", parent="shared")
    create(client, bob, "mine")
    add_collaborator_row(marid, shared["id"], bob_id)

    response = client.get("/api/namespaces?search=SUB", headers=bob)

    assert [n["path"] for n in response.json()] == ["shared/sub"]
    assert response.headers["x-total-count"] == "1"


# --- collaborators -----------------------------------------------------------------------


def test_collaborators_are_empty_until_someone_joins(client: Client, alice: dict[str, str]) -> None:
    create(client, alice, "proj")

    response = client.get("/api/n/alice/proj/-/collaborators", headers=alice)

    assert response.status_code == 200
    assert response.json() == []


def test_owner_lists_the_collaborators_of_the_tree(
    client: Client, users: Users, marid: Marid, alice: dict[str, str]
) -> None:
    bob_id, _ = users.create("bob")
    carol_id, _ = users.create("carol")
    root = create(client, alice, "proj")
    add_collaborator_row(marid, root["id"], carol_id)
    add_collaborator_row(marid, root["id"], bob_id)

    response = client.get("/api/n/alice/proj/-/collaborators", headers=alice)

    assert response.status_code == 200
    body = response.json()
    assert [c["username"] for c in body] == ["bob", "carol"]
    assert set(body[0]) == {"id", "username", "email", "created_at", "url"}
    assert body[0]["id"] == bob_id
    assert body[0]["email"] == "bob@example.com"
    assert body[0]["created_at"].endswith("Z")
    assert body[0]["url"] == f"{BASE}/n/alice/proj/-/collaborators/bob"


@pytest.mark.parametrize("visibility", ["public", "internal"])
def test_only_the_owner_lists_collaborators(
    client: Client,
    users: Users,
    marid: Marid,
    alice: dict[str, str],
    visibility: str,
) -> None:
    bob_id, bob = users.create("bob")
    _, carol = users.create("carol")
    root = create(client, alice, "proj", visibility=visibility)
    add_collaborator_row(marid, root["id"], bob_id)

    answers = [client.get("/api/n/alice/proj/-/collaborators", headers=h) for h in ({}, bob, carol)]

    for response in answers:
        assert_not_found(response)


def test_deleting_a_tree_removes_its_collaborators(
    client: Client, users: Users, marid: Marid, alice: dict[str, str]
) -> None:
    bob_id, bob = users.create("bob")
    root = create(client, alice, "proj")
    add_collaborator_row(marid, root["id"], bob_id)

    client.delete("/api/n/alice/proj", headers=alice)

    assert client.get("/api/namespaces", headers=bob).json() == []
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT count(*) AS n FROM collaborators WHERE root_id = %s", (root["id"],))
        row = curs.fetchone()
    assert row is not None
    assert row["n"] == 0


def test_deleting_a_child_keeps_the_collaborators_of_the_tree(
    client: Client, users: Users, marid: Marid, alice: dict[str, str]
) -> None:
    bob_id, bob = users.create("bob")
    root = create(client, alice, "proj")
    create(client, alice, "sub", parent="proj")
    create(client, alice, "side", parent="proj")
    add_collaborator_row(marid, root["id"], bob_id)

    client.delete("/api/n/alice/proj/sub", headers=alice)

    assert client.get("/api/n/alice/proj/side", headers=bob).status_code == 200
    assert [n["path"] for n in client.get("/api/namespaces", headers=bob).json()] == [
        "proj",
        "proj/side",
    ]
    collaborators = client.get("/api/n/alice/proj/-/collaborators", headers=alice).json()
    assert [c["username"] for c in collaborators] == ["bob"]


# --- write rules -------------------------------------------------------------------------


@pytest.mark.parametrize("visibility", ["public", "internal"])
def test_reader_who_is_not_the_owner_cannot_change_a_namespace(
    client: Client, alice: dict[str, str], bob: dict[str, str], visibility: str
) -> None:
    created = create(client, alice, "proj", visibility=visibility)
    create(client, alice, "sub", parent="proj")

    root = client.patch("/api/n/alice/proj", json={"description": "mine"}, headers=bob)
    child = client.patch("/api/n/alice/proj/sub", json={"description": "mine"}, headers=bob)

    for response in (root, child):
        assert_not_found(response)
    assert client.get("/api/n/alice/proj", headers=alice).json() == created
    assert client.get("/api/n/alice/proj/sub", headers=alice).json()["description"] == ""


@pytest.mark.parametrize("visibility", ["public", "internal"])
def test_reader_who_is_not_the_owner_cannot_delete_a_namespace(
    client: Client, alice: dict[str, str], bob: dict[str, str], visibility: str
) -> None:
    create(client, alice, "proj", visibility=visibility)
    create(client, alice, "sub", parent="proj")

    root = client.delete("/api/n/alice/proj", headers=bob)
    child = client.delete("/api/n/alice/proj/sub", headers=bob)

    for response in (root, child):
        assert_not_found(response)
    assert client.get("/api/n/alice/proj/sub", headers=alice).status_code == 200


def test_collaborator_cannot_change_or_delete_the_namespace(
    client: Client, users: Users, marid: Marid, alice: dict[str, str]
) -> None:
    bob_id, bob = users.create("bob")
    root = create(client, alice, "proj")
    create(client, alice, "sub", parent="proj")
    add_collaborator_row(marid, root["id"], bob_id)

    patched = client.patch("/api/n/alice/proj", json={"visibility": "public"}, headers=bob)
    deleted = client.delete("/api/n/alice/proj/sub", headers=bob)

    assert_not_found(patched)
    assert_not_found(deleted)
    assert client.get("/api/n/alice/proj/sub", headers=alice).json()["visibility"] == "private"


def test_user_who_cannot_see_a_namespace_gets_404_on_writes(
    client: Client, alice: dict[str, str], bob: dict[str, str]
) -> None:
    create(client, alice, "proj")
    create(client, alice, "sub", parent="proj")

    patched = client.patch("/api/n/alice/proj", json={"description": "x"}, headers=bob)
    deleted = client.delete("/api/n/alice/proj/sub", headers=bob)

    assert_not_found(patched)
    assert_not_found(deleted)
    assert client.get("/api/n/alice/proj/sub", headers=alice).status_code == 200


# --- authentication and scopes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/namespaces"),
        ("POST", "/api/namespaces"),
        ("PATCH", "/api/n/alice/proj"),
        ("DELETE", "/api/n/alice/proj"),
        ("PATCH", "/api/n/alice/nope"),
        ("DELETE", "/api/n/alice/nope"),
    ],
)
def test_routes_that_need_a_token_answer_401_without_one(
    client: Client, alice: dict[str, str], method: str, url: str
) -> None:
    create(client, alice, "proj", visibility="public")

    response = client.request(method, url, json={"name": "other"})

    assert_unauthorized(response)
    assert client.get("/api/n/alice/proj").json()["description"] == ""


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Basic YWxpY2U6cHc="])
def test_bad_token_is_401(client: Client, header: str) -> None:
    response = client.get("/api/namespaces", headers={"Authorization": header})

    assert_unauthorized(response)


@pytest.mark.parametrize(
    ("method", "url", "scope", "granted"),
    [
        ("GET", "/api/namespaces", "namespace:read", "namespace:write,delete build:read"),
        ("POST", "/api/namespaces", "namespace:write", "namespace:read,delete"),
        ("PATCH", "/api/n/alice/proj", "namespace:write", "namespace:read,delete"),
        ("DELETE", "/api/n/alice/proj", "namespace:delete", "namespace:read,write"),
        ("GET", "/api/n/alice/proj", "namespace:read", "namespace:write,delete"),
        ("GET", "/api/n/alice/proj/-/namespaces", "namespace:read", "namespace:write"),
        ("GET", "/api/n/alice/proj/-/collaborators", "namespace:read", "namespace:write"),
    ],
)
def test_token_without_the_routes_scope_is_403(
    client: Client, users: Users, method: str, url: str, scope: str, granted: str
) -> None:
    _, full = users.create("alice")
    create(client, full, "proj")
    _, limited = users.create("alicebot", scopes=granted)
    # The limited token belongs to another user, who may not see alice's private
    # namespace, and the PATCH body breaks a rule: the scope is checked before both.
    body = {"json": {"name": "other"}} if method in ("POST", "PATCH") else {}

    response = client.request(method, url, headers=limited, **body)

    assert_lacks_scope(response, scope)


def test_owner_token_without_the_routes_scope_is_403(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, full = users.create("alice")
    create(client, full, "proj")

    read = client.get("/api/n/alice/proj", headers=token(marid, alice_id, "build:read"))
    patch = client.patch(
        "/api/n/alice/proj", json={}, headers=token(marid, alice_id, "namespace:read")
    )
    delete = client.delete(
        "/api/n/alice/proj", headers=token(marid, alice_id, "namespace:read,write")
    )

    assert_lacks_scope(read, "namespace:read")
    assert_lacks_scope(patch, "namespace:write")
    assert_lacks_scope(delete, "namespace:delete")
    assert client.get("/api/n/alice/proj", headers=full).status_code == 200


def test_public_namespace_is_readable_with_a_token_lacking_the_read_scope(
    client: Client, users: Users, alice: dict[str, str]
) -> None:
    create(client, alice, "proj", visibility="public")
    create(client, alice, "sub", parent="proj")
    _, limited = users.create("bob", scopes="build:read")

    namespace = client.get("/api/n/alice/proj", headers=limited)
    children = client.get("/api/n/alice/proj/-/namespaces", headers=limited)

    assert namespace.status_code == 200
    assert [n["path"] for n in children.json()] == ["proj/sub"]


@pytest.mark.parametrize("url", ["/api/n/alice/proj", "/api/n/alice/nope"])
def test_lacking_read_scope_is_403_whether_or_not_the_namespace_exists(
    client: Client, users: Users, alice: dict[str, str], url: str
) -> None:
    create(client, alice, "proj", visibility="internal")
    _, limited = users.create("bob", scopes="build:read")

    response = client.get(url, headers=limited)

    assert_lacks_scope(response, "namespace:read")


def test_each_scope_alone_is_enough_for_its_route(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, _ = users.create("alice")
    writer = token(marid, alice_id, "namespace:write")
    deleter = token(marid, alice_id, "namespace:delete")
    reader = token(marid, alice_id, "namespace:read")

    created = client.post("/api/namespaces", json={"name": "proj"}, headers=writer)
    patched = client.patch("/api/n/alice/proj", json={"description": "d"}, headers=writer)
    listed = client.get("/api/namespaces", headers=reader)
    deleted = client.delete("/api/n/alice/proj", headers=deleter)

    assert created.status_code == 201
    assert patched.status_code == 200
    assert patched.json()["description"] == "d"
    assert [n["path"] for n in listed.json()] == ["proj"]
    assert deleted.status_code == 204


# --- the order of checks: 401, 403, 404, 400, 422 ----------------------------------------

BAD_FIELDS = {"name": "other", "description": LONG, "visibility": "secret"}


def test_hidden_namespace_is_404_before_its_fields_are_checked(
    client: Client, alice: dict[str, str], bob: dict[str, str]
) -> None:
    create(client, alice, "proj")

    response = client.patch("/api/n/alice/proj", json=BAD_FIELDS, headers=bob)

    assert_not_found(response)


def test_the_owner_rule_is_checked_before_the_fields(
    client: Client, alice: dict[str, str], bob: dict[str, str]
) -> None:
    created = create(client, alice, "proj", visibility="public")

    reader = client.patch("/api/n/alice/proj", json=BAD_FIELDS, headers=bob)
    owner = client.patch("/api/n/alice/proj", json=BAD_FIELDS, headers=alice)

    assert_not_found(reader)
    assert owner.status_code == 400
    assert set(owner.json()) == {"name", "description", "visibility"}
    assert client.get("/api/n/alice/proj", headers=alice).json() == created


def test_create_without_a_token_is_401_whatever_the_body(client: Client) -> None:
    answers = [
        client.post("/api/namespaces", json={"name": "a!", "parent": "nope"}),
        client.post("/api/namespaces", json={"name": 1}),
        client.post(
            "/api/namespaces", content=b"{bad", headers={"Content-Type": "application/json"}
        ),
    ]

    for response in answers:
        assert_unauthorized(response)


def test_create_with_a_token_lacking_the_scope_is_403_whatever_the_fields(
    client: Client, users: Users
) -> None:
    _, limited = users.create("alice", scopes="namespace:read")

    response = client.post(
        "/api/namespaces", json={"name": "a!", "parent": "nope"}, headers=limited
    )

    assert_lacks_scope(response, "namespace:write")


def test_undecodable_create_with_a_token_lacking_the_scope_is_403(
    client: Client, users: Users
) -> None:
    _, limited = users.create("alice", scopes="namespace:read")

    response = client.post("/api/namespaces", json={"name": 1}, headers=limited)

    assert_lacks_scope(response, "namespace:write")


def test_delete_with_a_body_and_a_token_lacking_the_scope_is_403(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, full = users.create("alice")
    create(client, full, "proj")

    response = client.request(
        "DELETE",
        "/api/n/alice/proj",
        json={"name": "proj"},
        headers=token(marid, alice_id, "namespace:read"),
    )

    assert_lacks_scope(response, "namespace:delete")


def test_undecodable_patch_of_a_hidden_namespace_is_404(
    client: Client, alice: dict[str, str], bob: dict[str, str]
) -> None:
    create(client, alice, "proj")

    response = client.patch("/api/n/alice/proj", json={"visibility": 3}, headers=bob)

    assert_not_found(response)


# --- methods -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("PUT", "/api/namespaces"),
        ("DELETE", "/api/namespaces"),
        ("POST", "/api/n/alice/proj"),
        ("PUT", "/api/n/alice/proj"),
        ("POST", "/api/n/alice/proj/-/namespaces"),
    ],
)
def test_unsupported_method_is_405(
    client: Client, alice: dict[str, str], method: str, url: str
) -> None:
    create(client, alice, "proj")

    response = client.request(method, url, headers=alice)

    assert response.status_code == 405
    assert response.json() == {"message": "Method Not Allowed"}
