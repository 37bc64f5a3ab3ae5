"""Namespace routes: creating, validating, nesting, changing, deleting and listing.

Who may read or write a namespace, scopes and the order of checks are in
`test_namespace_access.py`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from domain.origin import Origin
from infrastructure.bootstrap import Marid
from tests.conftest import Users
from tests.helpers import BASE, LONG, RFC3339_Z, Client, links
from tests.helpers import create_ns as create

URL_FIELDS = (
    "builds",
    "namespaces",
    "images",
    "objects",
    "variables",
    "keys",
    "invites",
    "collaborators",
    "webhooks",
)
NAMESPACE_FIELDS = {
    "id",
    "user_id",
    "root_id",
    "parent_id",
    "name",
    "path",
    "description",
    "visibility",
    "created_at",
    "url",
    "user",
    "build",
    "parent",
} | {f"{name}_url" for name in URL_FIELDS}


def get(client: Client, auth: dict[str, str], owner: str, path: str) -> dict[str, Any]:
    response = client.get(f"/api/n/{owner}/{path}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def paths(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["path"] for item in response.json()]


# --- create and the namespace JSON shape -------------------------------------------------


def test_create_returns_201_with_every_field_of_the_namespace(client: Client, users: Users) -> None:
    alice_id, auth = users.create("alice")

    response = client.post(
        "/api/namespaces", json={"name": "proj", "description": "mine"}, headers=auth
    )

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == NAMESPACE_FIELDS
    url = f"{BASE}/n/alice/proj"
    assert body["id"] >= 1
    assert body["user_id"] == alice_id
    assert body["root_id"] == body["id"]
    assert body["parent_id"] is None
    assert body["name"] == "proj"
    assert body["path"] == "proj"
    assert body["description"] == "mine"
    assert body["visibility"] == "private"
    assert body["url"] == url
    for name in URL_FIELDS:
        assert body[f"{name}_url"] == f"{url}/-/{name}"
    assert body["build"] is None
    assert body["parent"] is None


def test_namespace_nests_its_owner_as_a_user_object(client: Client, users: Users) -> None:
    alice_id, auth = users.create("alice")

    body = create(client, auth, "proj")

    user = body["user"]
    assert set(user) == {"id", "username", "email", "created_at"}
    assert user["id"] == alice_id
    assert user["username"] == "alice"
    assert user["email"] == "alice@example.com"


def test_timestamps_are_rfc3339_in_utc_with_z(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    body = create(client, auth, "proj")

    for value in (body["created_at"], body["user"]["created_at"]):
        assert RFC3339_Z.match(value), value
        assert datetime.fromisoformat(value.replace("Z", "+00:00")).utcoffset().total_seconds() == 0


def test_get_returns_what_create_returned(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    created = create(client, auth, "proj", description="d", visibility="internal")

    fetched = get(client, auth, "alice", "proj")

    assert fetched == created


def test_urls_use_the_configured_api_url(client: Client, users: Users, marid: Marid) -> None:
    _, auth = users.create("alice")
    marid.settings = replace(marid.settings, api_url="https://ci.example.com/api")
    create(client, auth, "proj")

    body = create(client, auth, "sub", parent="proj")

    url = "https://ci.example.com/api/n/alice/proj/sub"
    assert body["url"] == url
    assert body["parent"]["url"] == "https://ci.example.com/api/n/alice/proj"
    for name in URL_FIELDS:
        assert body[f"{name}_url"] == f"{url}/-/{name}"


def test_urls_follow_the_requests_host_without_an_api_url(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.get("/api/n/alice/proj", headers={**auth, "Host": "ci.example.org"})

    assert response.json()["url"] == "http://ci.example.org/api/n/alice/proj"


@pytest.mark.parametrize("visibility", ["private", "internal", "public"])
def test_create_accepts_each_visibility(client: Client, users: Users, visibility: str) -> None:
    _, auth = users.create("alice")

    body = create(client, auth, "proj", visibility=visibility)

    assert body["visibility"] == visibility
    assert get(client, auth, "alice", "proj")["visibility"] == visibility


def test_absent_or_null_visibility_means_private(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    absent = create(client, auth, "one")
    null = create(client, auth, "two", visibility=None, description=None)

    assert absent["visibility"] == "private"
    assert null["visibility"] == "private"
    assert null["description"] == ""


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": None}])
def test_name_is_required(client: Client, users: Users, body: dict[str, Any]) -> None:
    _, auth = users.create("alice")

    response = client.post("/api/namespaces", json=body, headers=auth)

    assert response.status_code == 400
    assert response.json() == {"name": ["Name field required"]}


@pytest.mark.parametrize("name", ["ab", "x" * 33])
def test_name_must_be_3_to_32_characters(client: Client, users: Users, name: str) -> None:
    _, auth = users.create("alice")

    response = client.post("/api/namespaces", json={"name": name}, headers=auth)

    assert response.status_code == 400
    assert response.json() == {"name": ["Name must be between 3 and 32 characters in length"]}


@pytest.mark.parametrize("name", ["abc", "x" * 32, "Proj2024"])
def test_name_of_3_to_32_letters_and_digits_is_accepted(
    client: Client, users: Users, name: str
) -> None:
    _, auth = users.create("alice")

    body = create(client, auth, name)

    assert body["name"] == name


@pytest.mark.parametrize(
    "name", ["my-proj", "my_proj", "my proj", "proj/sub", "projé", "proj%", "proj\n"]
)
def test_name_can_only_have_letters_and_numbers(client: Client, users: Users, name: str) -> None:
    _, auth = users.create("alice")

    response = client.post("/api/namespaces", json={"name": name}, headers=auth)

    assert response.status_code == 400
    assert response.json() == {"name": ["Name can only have letters, and numbers"]}


def test_name_breaking_two_rules_gets_both_messages(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    response = client.post("/api/namespaces", json={"name": "a-"}, headers=auth)

    assert response.status_code == 400
    assert response.json() == {
        "name": [
            "Name must be between 3 and 32 characters in length",
            "Name can only have letters, and numbers",
        ]
    }


def test_description_cannot_be_longer_than_255(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    response = client.post(
        "/api/namespaces", json={"name": "proj", "description": LONG}, headers=auth
    )

    assert response.status_code == 400
    assert response.json() == {
        "description": ["Description cannot be longer than 255 characters in length"]
    }


def test_description_of_255_characters_is_accepted(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    body = create(client, auth, "proj", description="x" * 255)

    assert body["description"] == "x" * 255


def test_unknown_visibility_is_a_field_error(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    response = client.post(
        "/api/namespaces", json={"name": "proj", "visibility": "secret"}, headers=auth
    )

    assert response.status_code == 400
    assert response.json() == {
        "visibility": ["Visibility must be one of private, internal, public"]
    }


def test_every_failed_rule_is_reported_together(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    body = {"name": "a!", "description": LONG, "visibility": "secret", "parent": "missing"}

    response = client.post("/api/namespaces", json=body, headers=auth)

    assert response.status_code == 400
    assert response.json() == {
        "name": [
            "Name must be between 3 and 32 characters in length",
            "Name can only have letters, and numbers",
        ],
        "description": ["Description cannot be longer than 255 characters in length"],
        "visibility": ["Visibility must be one of private, internal, public"],
        "parent": ["Parent namespace does not exist"],
    }


def test_taken_name_is_reported_with_the_other_failures(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.post(
        "/api/namespaces", json={"name": "proj", "description": LONG}, headers=auth
    )

    assert response.status_code == 400
    assert response.json() == {
        "name": ["Name already exists"],
        "description": ["Description cannot be longer than 255 characters in length"],
    }


def test_failed_create_creates_nothing(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    response = client.post(
        "/api/namespaces", json={"name": "proj", "visibility": "secret"}, headers=auth
    )

    assert response.status_code == 400
    assert paths(client.get("/api/namespaces", headers=auth)) == []
    assert client.get("/api/n/alice/proj", headers=auth).status_code == 404


@pytest.mark.parametrize("content", [b"{bad", b"[]", b'"proj"'])
def test_body_that_is_not_a_json_object_is_a_400_message(
    client: Client, users: Users, content: bytes
) -> None:
    _, auth = users.create("alice")

    response = client.post(
        "/api/namespaces",
        content=content,
        headers={**auth, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_field_of_the_wrong_type_is_a_400_field_error(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    response = client.post("/api/namespaces", json={"name": 1, "visibility": []}, headers=auth)

    assert response.status_code == 400
    assert {"name", "visibility"} <= set(response.json())


# --- names are unique per owner at any level --------------------------------------------


def test_name_already_exists_for_the_same_owner(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.post("/api/namespaces", json={"name": "proj"}, headers=auth)

    assert response.status_code == 400
    assert response.json() == {"name": ["Name already exists"]}


def test_name_is_unique_across_every_level_of_every_tree(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")
    create(client, auth, "other")

    as_root = client.post("/api/namespaces", json={"name": "sub"}, headers=auth)
    under_other = client.post(
        "/api/namespaces", json={"name": "sub", "parent": "other"}, headers=auth
    )
    root_as_child = client.post(
        "/api/namespaces", json={"name": "proj", "parent": "proj/sub"}, headers=auth
    )

    for response in (as_root, under_other, root_as_child):
        assert response.status_code == 400
        assert response.json() == {"name": ["Name already exists"]}


def test_other_users_may_use_the_same_name(client: Client, users: Users) -> None:
    _, alice = users.create("alice")
    bob_id, bob = users.create("bob")
    create(client, alice, "proj")

    body = create(client, bob, "proj")

    assert body["user_id"] == bob_id
    assert body["url"] == f"{BASE}/n/bob/proj"


# --- children ----------------------------------------------------------------------------


def test_child_is_created_under_its_parent(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    root = create(client, auth, "proj")

    child = create(client, auth, "sub", parent="proj")

    assert child["name"] == "sub"
    assert child["path"] == "proj/sub"
    assert child["parent_id"] == root["id"]
    assert child["root_id"] == root["id"]
    assert child["url"] == f"{BASE}/n/alice/proj/sub"
    assert child["namespaces_url"] == f"{BASE}/n/alice/proj/sub/-/namespaces"


def test_grandchild_belongs_to_the_root_of_the_tree(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    root = create(client, auth, "proj")
    child = create(client, auth, "sub", parent="proj")

    grandchild = create(client, auth, "deep", parent="proj/sub")

    assert grandchild["path"] == "proj/sub/deep"
    assert grandchild["parent_id"] == child["id"]
    assert grandchild["root_id"] == root["id"]


def test_child_carries_its_parent_as_a_full_namespace_object(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    root = create(client, auth, "proj", description="the root")
    create(client, auth, "sub", parent="proj")

    child = get(client, auth, "alice", "proj/sub")

    assert set(child) == NAMESPACE_FIELDS
    assert child["parent"] == root
    assert child["user"] == root["user"]


def test_parent_must_exist(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.post(
        "/api/namespaces", json={"name": "sub", "parent": "proj/missing"}, headers=auth
    )

    assert response.status_code == 400
    assert response.json() == {"parent": ["Parent namespace does not exist"]}


def test_parent_must_be_one_of_the_callers_namespaces(client: Client, users: Users) -> None:
    _, alice = users.create("alice")
    _, bob = users.create("bob")
    create(client, alice, "proj", visibility="public")

    response = client.post("/api/namespaces", json={"name": "sub", "parent": "proj"}, headers=bob)

    assert response.status_code == 400
    assert response.json() == {"parent": ["Parent namespace does not exist"]}
    assert paths(client.get("/api/n/alice/proj/-/namespaces")) == []


def test_twenty_levels_are_allowed_and_the_twenty_first_is_refused(
    client: Client, users: Users
) -> None:
    _, auth = users.create("alice")
    names = [f"level{i:02d}" for i in range(20)]
    create(client, auth, names[0])
    for depth in range(1, 20):
        create(client, auth, names[depth], parent="/".join(names[:depth]))

    response = client.post(
        "/api/namespaces", json={"name": "toodeep", "parent": "/".join(names)}, headers=auth
    )

    assert response.status_code == 400
    assert response.json() == {"parent": ["Namespace cannot exceed depth of 20"]}
    deepest = get(client, auth, "alice", "/".join(names))
    assert deepest["name"] == "level19"
    assert deepest["url"] == f"{BASE}/n/alice/{'/'.join(names)}"


# --- visibility is shared by the tree ----------------------------------------------------


def test_child_takes_the_visibility_of_its_root(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj", visibility="public")

    child = create(client, auth, "sub", parent="proj", visibility="private")
    grandchild = create(client, auth, "deep", parent="proj/sub", visibility="internal")

    assert child["visibility"] == "public"
    assert grandchild["visibility"] == "public"


def test_changing_the_root_visibility_changes_the_whole_tree(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")
    create(client, auth, "deep", parent="proj/sub")

    response = client.patch("/api/n/alice/proj", json={"visibility": "internal"}, headers=auth)

    assert response.status_code == 200
    assert response.json()["visibility"] == "internal"
    for path in ("proj/sub", "proj/sub/deep"):
        assert get(client, auth, "alice", path)["visibility"] == "internal"


def test_child_created_after_a_visibility_change_takes_the_new_visibility(
    client: Client, users: Users
) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")
    client.patch("/api/n/alice/proj", json={"visibility": "public"}, headers=auth)

    grandchild = create(client, auth, "deep", parent="proj/sub")

    assert grandchild["visibility"] == "public"


def test_visibility_sent_for_a_child_is_ignored(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")

    response = client.patch(
        "/api/n/alice/proj/sub",
        json={"visibility": "public", "description": "changed"},
        headers=auth,
    )

    assert response.status_code == 200
    assert response.json()["visibility"] == "private"
    assert response.json()["description"] == "changed"
    assert get(client, auth, "alice", "proj")["visibility"] == "private"


# --- PATCH -------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj", description="old", visibility="public")

    description_only = client.patch("/api/n/alice/proj", json={"description": "new"}, headers=auth)
    visibility_only = client.patch(
        "/api/n/alice/proj", json={"visibility": "internal"}, headers=auth
    )

    assert description_only.status_code == 200
    assert description_only.json()["description"] == "new"
    assert description_only.json()["visibility"] == "public"
    assert visibility_only.status_code == 200
    assert visibility_only.json()["description"] == "new"
    assert visibility_only.json()["visibility"] == "internal"


def test_patch_without_fields_changes_nothing(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    created = create(client, auth, "proj", description="keep", visibility="public")

    response = client.patch(
        "/api/n/alice/proj", json={"description": None, "visibility": None}, headers=auth
    )

    assert response.status_code == 200
    assert response.json() == created
    assert client.patch("/api/n/alice/proj", json={}, headers=auth).json() == created


def test_patch_with_an_empty_description_keeps_it(client: Client, users: Users) -> None:
    """Djinn's client sends unchanged fields empty (CONTRACT.md "Updates")."""
    _, auth = users.create("alice")
    create(client, auth, "proj", description="old")

    response = client.patch("/api/n/alice/proj", json={"description": ""}, headers=auth)

    assert response.status_code == 200
    assert response.json()["description"] == "old"
    assert get(client, auth, "alice", "proj")["description"] == "old"


def test_patch_returns_the_full_namespace(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")

    response = client.patch("/api/n/alice/proj/sub", json={"description": "d"}, headers=auth)

    assert response.status_code == 200
    assert response.json() == get(client, auth, "alice", "proj/sub")
    assert set(response.json()) == NAMESPACE_FIELDS
    assert response.json()["parent"]["path"] == "proj"


def test_patch_accepts_the_current_name(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.patch(
        "/api/n/alice/proj", json={"name": "proj", "description": "d"}, headers=auth
    )

    assert response.status_code == 200
    assert response.json()["name"] == "proj"
    assert response.json()["description"] == "d"


@pytest.mark.parametrize("name", ["other", "PROJ"])
def test_patch_cannot_change_the_name(client: Client, users: Users, name: str) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.patch(
        "/api/n/alice/proj", json={"name": name, "description": "d"}, headers=auth
    )

    assert response.status_code == 400
    assert response.json() == {"name": ["Name cannot be changed"]}
    assert get(client, auth, "alice", "proj")["description"] == ""


def test_patch_reports_every_failed_rule_together(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.patch(
        "/api/n/alice/proj",
        json={"name": "other", "description": LONG, "visibility": "secret"},
        headers=auth,
    )

    assert response.status_code == 400
    assert response.json() == {
        "name": ["Name cannot be changed"],
        "description": ["Description cannot be longer than 255 characters in length"],
        "visibility": ["Visibility must be one of private, internal, public"],
    }


def test_refused_patch_changes_nothing(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    created = create(client, auth, "proj", description="keep")

    response = client.patch(
        "/api/n/alice/proj", json={"description": "new", "visibility": "secret"}, headers=auth
    )

    assert response.status_code == 400
    assert get(client, auth, "alice", "proj") == created


# --- DELETE ------------------------------------------------------------------------------


def test_delete_answers_204_without_a_body(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.delete("/api/n/alice/proj", headers=auth)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/n/alice/proj", headers=auth).status_code == 404


def test_deleting_a_root_deletes_the_whole_tree(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")
    create(client, auth, "deep", parent="proj/sub")
    create(client, auth, "side", parent="proj")
    create(client, auth, "other")

    response = client.delete("/api/n/alice/proj", headers=auth)

    assert response.status_code == 204
    for path in ("proj", "proj/sub", "proj/sub/deep", "proj/side"):
        assert client.get(f"/api/n/alice/{path}", headers=auth).status_code == 404
    assert paths(client.get("/api/namespaces", headers=auth)) == ["other"]


def test_deleting_a_child_deletes_its_subtree_and_keeps_the_rest(
    client: Client, users: Users
) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")
    create(client, auth, "deep", parent="proj/sub")
    create(client, auth, "deeper", parent="proj/sub/deep")
    create(client, auth, "side", parent="proj")

    response = client.delete("/api/n/alice/proj/sub", headers=auth)

    assert response.status_code == 204
    assert paths(client.get("/api/namespaces", headers=auth)) == ["proj", "proj/side"]
    assert paths(client.get("/api/n/alice/proj/-/namespaces", headers=auth)) == ["proj/side"]
    assert client.get("/api/n/alice/proj/sub/deep/deeper", headers=auth).status_code == 404


def test_deleted_names_are_free_for_reuse(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")
    create(client, auth, "deep", parent="proj/sub")
    client.delete("/api/n/alice/proj", headers=auth)

    deep = create(client, auth, "deep")
    proj = create(client, auth, "proj", parent="deep")
    sub = create(client, auth, "sub", parent="deep/proj")

    assert [deep["path"], proj["path"], sub["path"]] == ["deep", "deep/proj", "deep/proj/sub"]
    assert paths(client.get("/api/namespaces", headers=auth)) == [
        "deep",
        "deep/proj",
        "deep/proj/sub",
    ]


def test_a_child_name_is_free_again_after_the_child_is_deleted(
    client: Client, users: Users
) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    old = create(client, auth, "sub", parent="proj")
    client.delete("/api/n/alice/proj/sub", headers=auth)

    new = create(client, auth, "sub", parent="proj")

    assert new["path"] == "proj/sub"
    assert new["id"] != old["id"]
    assert paths(client.get("/api/n/alice/proj/-/namespaces", headers=auth)) == ["proj/sub"]


def test_deleting_twice_answers_404_the_second_time(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    client.delete("/api/n/alice/proj", headers=auth)

    response = client.delete("/api/n/alice/proj", headers=auth)

    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


# --- GET /api/namespaces -----------------------------------------------------------------


def test_list_holds_the_callers_namespaces_of_every_level_by_path(
    client: Client, users: Users
) -> None:
    _, auth = users.create("alice")
    create(client, auth, "zeta")
    create(client, auth, "alpha")
    create(client, auth, "gamma", parent="alpha")
    create(client, auth, "beta", parent="alpha")
    create(client, auth, "mid")

    response = client.get("/api/namespaces", headers=auth)

    assert paths(response) == ["alpha", "alpha/beta", "alpha/gamma", "mid", "zeta"]
    assert response.headers["x-total-count"] == "5"


def test_list_items_are_full_namespaces(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")

    items = client.get("/api/namespaces", headers=auth).json()

    assert items == [get(client, auth, "alice", "proj"), get(client, auth, "alice", "proj/sub")]


def test_list_leaves_out_other_users_namespaces_even_public_ones(
    client: Client, users: Users
) -> None:
    _, alice = users.create("alice")
    _, bob = users.create("bob")
    create(client, alice, "mine")
    for name, visibility in (("pub", "public"), ("inter", "internal"), ("priv", "private")):
        create(client, bob, name, visibility=visibility)

    response = client.get("/api/namespaces", headers=alice)

    assert paths(response) == ["mine"]


def test_empty_list_is_an_empty_array_with_paging_headers(client: Client, users: Users) -> None:
    _, auth = users.create("alice")

    response = client.get("/api/namespaces", headers=auth)

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"
    assert links(response) == {
        rel: "/api/namespaces?page=1" for rel in ("prev", "next", "first", "last")
    }


def test_search_is_a_case_insensitive_substring_of_the_path(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")
    create(client, auth, "theSubway")
    create(client, auth, "other")

    response = client.get("/api/namespaces", params={"search": "SUB"}, headers=auth)

    assert paths(response) == ["proj/sub", "theSubway"]
    assert response.headers["x-total-count"] == "2"
    assert paths(client.get("/api/namespaces?search=j/S", headers=auth)) == ["proj/sub"]


def test_empty_search_matches_everything(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")

    response = client.get("/api/namespaces?search=", headers=auth)

    assert paths(response) == ["proj", "proj/sub"]


@pytest.mark.parametrize("search", ["%", "_", "pro%", "p_oj", "\\"])
def test_search_takes_wildcards_literally(client: Client, users: Users, search: str) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")

    response = client.get("/api/namespaces", params={"search": search}, headers=auth)

    assert paths(response) == []
    assert response.headers["x-total-count"] == "0"


# --- paging ------------------------------------------------------------------------------


@pytest.fixture
def five(client: Client, users: Users) -> dict[str, str]:
    """alice with five namespaces, ns1..ns5; returns her auth headers."""
    _, auth = users.create("alice")
    for i in range(1, 6):
        create(client, auth, f"ns{i}")
    return auth


def test_page_and_per_page_select_a_slice(client: Client, five: dict[str, str]) -> None:
    response = client.get("/api/namespaces?per_page=2&page=2", headers=five)

    assert paths(response) == ["ns3", "ns4"]
    assert response.headers["x-total-count"] == "5"
    assert links(response) == {
        "prev": "/api/namespaces?per_page=2&page=1",
        "next": "/api/namespaces?per_page=2&page=3",
        "first": "/api/namespaces?per_page=2&page=1",
        "last": "/api/namespaces?per_page=2&page=3",
    }


def test_prev_and_next_are_clamped_to_the_first_and_last_page(
    client: Client, five: dict[str, str]
) -> None:
    first = client.get("/api/namespaces?per_page=2&page=1", headers=five)
    last = client.get("/api/namespaces?per_page=2&page=3", headers=five)

    assert paths(first) == ["ns1", "ns2"]
    assert links(first)["prev"] == "/api/namespaces?per_page=2&page=1"
    assert paths(last) == ["ns5"]
    assert links(last)["next"] == "/api/namespaces?per_page=2&page=3"


def test_page_past_the_end_gives_the_last_page(client: Client, five: dict[str, str]) -> None:
    response = client.get("/api/namespaces?per_page=2&page=99", headers=five)

    assert paths(response) == ["ns5"]
    assert links(response)["prev"] == "/api/namespaces?per_page=2&page=2"
    assert links(response)["next"] == "/api/namespaces?per_page=2&page=3"


@pytest.mark.parametrize("page", ["0", "-1", "abc", ""])
def test_missing_or_invalid_page_means_the_first(
    client: Client, five: dict[str, str], page: str
) -> None:
    response = client.get(f"/api/namespaces?per_page=2&page={page}", headers=five)

    assert paths(response) == ["ns1", "ns2"]
    assert links(response)["next"] == "/api/namespaces?per_page=2&page=2"


def test_links_keep_the_other_query_parameters(client: Client, five: dict[str, str]) -> None:
    response = client.get("/api/namespaces?search=NS&per_page=1&page=2", headers=five)

    assert paths(response) == ["ns2"]
    assert links(response) == {
        "prev": "/api/namespaces?per_page=1&search=NS&page=1",
        "next": "/api/namespaces?per_page=1&search=NS&page=3",
        "first": "/api/namespaces?per_page=1&search=NS&page=1",
        "last": "/api/namespaces?per_page=1&search=NS&page=5",
    }


def test_pages_hold_25_by_default_and_at_most_100(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, auth = users.create("alice")
    origin = Origin.user(alice_id)
    for i in range(101):
        outcome = marid.app.create_namespace(alice_id, f"ns{i:03d}", None, None, None, origin)
    marid.settle(outcome)

    default = client.get("/api/namespaces", headers=auth)
    too_many = client.get("/api/namespaces?per_page=1000", headers=auth)
    zero = client.get("/api/namespaces?per_page=0", headers=auth)

    assert len(default.json()) == 25
    assert links(default)["last"] == "/api/namespaces?page=5"
    assert len(too_many.json()) == 100
    assert links(too_many)["last"] == "/api/namespaces?per_page=1000&page=2"
    assert len(zero.json()) == 25
    assert default.headers["x-total-count"] == "101"


# --- GET /api/n/{user}/{path}/-/namespaces -----------------------------------------------


def test_children_are_the_direct_children_by_path(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "two", parent="proj")
    create(client, auth, "one", parent="proj")
    create(client, auth, "deep", parent="proj/one")
    create(client, auth, "other")

    response = client.get("/api/n/alice/proj/-/namespaces", headers=auth)

    assert paths(response) == ["proj/one", "proj/two"]
    assert response.headers["x-total-count"] == "2"


def test_children_items_are_full_namespaces(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")

    items = client.get("/api/n/alice/proj/-/namespaces", headers=auth).json()

    assert items == [get(client, auth, "alice", "proj/sub")]
    assert items[0]["url"] == f"{BASE}/n/alice/proj/sub"
    assert items[0]["user"]["username"] == "alice"


def test_children_of_a_nested_path(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "one")
    create(client, auth, "two", parent="one")
    create(client, auth, "three", parent="one/two")
    create(client, auth, "four", parent="one/two/three")

    response = client.get("/api/n/alice/one/two/three/-/namespaces", headers=auth)

    assert paths(response) == ["one/two/three/four"]
    assert response.json()[0]["parent"]["path"] == "one/two/three"


def test_children_of_a_leaf_are_an_empty_array(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.get("/api/n/alice/proj/-/namespaces", headers=auth)

    assert response.json() == []
    assert response.headers["x-total-count"] == "0"


def test_children_can_be_searched_and_paged(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")
    for name in ("apple", "Grape", "melon", "grapefruit"):
        create(client, auth, name, parent="proj/sub")

    response = client.get(
        "/api/n/alice/proj/sub/-/namespaces?search=grape&per_page=1&page=2", headers=auth
    )

    assert paths(response) == ["proj/sub/grapefruit"]
    assert response.headers["x-total-count"] == "2"
    assert links(response) == {
        "prev": "/api/n/alice/proj/sub/-/namespaces?per_page=1&search=grape&page=1",
        "next": "/api/n/alice/proj/sub/-/namespaces?per_page=1&search=grape&page=2",
        "first": "/api/n/alice/proj/sub/-/namespaces?per_page=1&search=grape&page=1",
        "last": "/api/n/alice/proj/sub/-/namespaces?per_page=1&search=grape&page=2",
    }


# --- addressing --------------------------------------------------------------------------


def test_nested_paths_address_each_level(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "one")
    create(client, auth, "two", parent="one")
    create(client, auth, "three", parent="one/two")

    bodies = [get(client, auth, "alice", p) for p in ("one", "one/two", "one/two/three")]

    assert [b["name"] for b in bodies] == ["one", "two", "three"]


def test_trailing_slash_addresses_the_same_namespace(client: Client, users: Users) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")
    create(client, auth, "sub", parent="proj")

    response = client.get("/api/n/alice/proj/sub/", headers=auth)

    assert response.status_code == 200
    assert response.json()["path"] == "proj/sub"


@pytest.mark.parametrize(
    "url",
    [
        "/api/n/nobody/proj",
        "/api/n/alice/nope",
        "/api/n/alice/proj/nope",
        "/api/n/alice/sub",
        "/api/n/alice/proj/sub/extra",
        "/api/n/bob/proj",
        "/api/n/nobody/proj/-/namespaces",
        "/api/n/alice/nope/-/namespaces",
        "/api/n/alice/nope/-/collaborators",
    ],
)
def test_unknown_user_or_path_is_404(client: Client, users: Users, url: str) -> None:
    _, auth = users.create("alice")
    users.create("bob")
    create(client, auth, "proj", visibility="public")
    create(client, auth, "sub", parent="proj")

    response = client.get(url, headers=auth)

    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_writing_an_unknown_namespace_is_404(client: Client, users: Users, method: str) -> None:
    _, auth = users.create("alice")
    create(client, auth, "proj")

    response = client.request(method, "/api/n/alice/proj/nope", json={}, headers=auth)

    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
