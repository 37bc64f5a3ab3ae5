"""Variables over HTTP: validation, namespace placement, access, masking, lists, detaching."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infrastructure.bootstrap import Marid
from tests.conftest import Users
from tests.helpers import (
    BASE,
    DENIED,
    READERS,
    Auth,
    Client,
    add_collaborator,
    assert_lacks_scope,
    assert_not_found,
    assert_unauthorized,
    create_ns,
    event_states,
    token,
)

KEY_RULE = "Key does not match ^[a-zA-Z_][a-zA-Z0-9_]*$"
TOO_SHORT = "Value cannot be shorter than 6 characters in length"
SECRET = "s3cr3t-hunter2-value"
# Litestar blames a bad body field on the server when the field is named like a
# dependency (`namespace`, provided by api/deps.py) and it is the only bad field: 500.
# The fix belongs to api/errors.py (see the report); strict, so it is noticed once fixed.


def post(client: Client, auth: Auth, **body: Any) -> Any:
    return client.post("/api/variables", json=body, headers=auth)


def create(
    client: Client, auth: Auth, key: str = "DB_HOST", value: str = "localhost", **fields: Any
) -> dict[str, Any]:
    response = post(client, auth, key=key, value=value, **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def keys(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [v["key"] for v in response.json()]


def stored_value(marid: Marid, variable_id: int) -> str:
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT value FROM variables WHERE id = %s", (variable_id,))
        row = curs.fetchone()
    assert row is not None
    return str(row["value"])


# --- create: the resource and its shape ----------------------------------------------------


def test_created_variable_has_djinns_shape_with_absolute_urls(client: Client, users: Users) -> None:
    alice_id, alice = users.create("alice")

    response = post(client, alice, key="DB_HOST", value="localhost")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "author_id",
        "user_id",
        "namespace_id",
        "key",
        "value",
        "masked",
        "created_at",
        "url",
        "author",
        "user",
        "namespace",
    }
    assert (body["key"], body["value"], body["masked"]) == ("DB_HOST", "localhost", False)
    assert (body["author_id"], body["user_id"], body["namespace_id"]) == (alice_id, alice_id, None)
    assert body["namespace"] is None
    assert body["url"] == f"{BASE}/variables/{body['id']}"
    assert body["created_at"].endswith("Z")
    assert body["author"] == body["user"]
    assert set(body["author"]) == {"id", "username", "email", "created_at"}
    assert (body["author"]["id"], body["author"]["username"]) == (alice_id, "alice")


def test_get_returns_what_create_returned(client: Client, alice: Auth) -> None:
    created = create(client, alice)

    response = client.get(f"/api/variables/{created['id']}", headers=alice)

    assert response.status_code == 200
    assert response.json() == created


def test_variable_in_a_namespace_nests_the_namespace(client: Client, alice: Auth) -> None:
    ns = create_ns(client, alice, "proj", visibility="public")

    body = create(client, alice, namespace="proj")

    assert body["namespace_id"] == ns["id"]
    assert body["namespace"] == ns
    assert body["namespace"]["url"] == f"{BASE}/n/alice/proj"


def test_collaborators_variable_belongs_to_the_namespace_owner(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, alice = users.create("alice")
    bob_id, bob = users.create("bob")
    ns = create_ns(client, alice, "proj")
    add_collaborator(marid, ns["id"], bob_id)

    body = create(client, bob, namespace="proj@alice")

    assert (body["user_id"], body["author_id"], body["namespace_id"]) == (
        alice_id,
        bob_id,
        ns["id"],
    )
    assert (body["user"]["username"], body["author"]["username"]) == ("alice", "bob")


def test_mask_defaults_to_false_and_null_means_false(client: Client, alice: Auth) -> None:
    first = create(client, alice, key="A_ONE")
    second = create(client, alice, key="A_TWO", mask=None)

    assert (first["masked"], second["masked"]) == (False, False)
    assert second["value"] == "localhost"


# --- create: validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"key": ["Key field required"], "value": ["Value field required"]}),
        (
            {"key": "", "value": ""},
            {"key": ["Key field required"], "value": ["Value field required"]},
        ),
        ({"key": None, "value": "x"}, {"key": ["Key field required"]}),
        ({"key": "1ABC", "value": "x"}, {"key": [KEY_RULE]}),
        ({"key": "A-B", "value": "x"}, {"key": [KEY_RULE]}),
        ({"key": "A B", "value": "x"}, {"key": [KEY_RULE]}),
        ({"key": "FOO\n", "value": "x"}, {"key": [KEY_RULE]}),
        ({"key": "ÄBC", "value": "x"}, {"key": [KEY_RULE]}),
        ({"key": "A", "value": "abcde", "mask": True}, {"value": [TOO_SHORT]}),
        (
            {"key": "A", "value": "", "mask": True},
            {"value": ["Value field required", TOO_SHORT]},
        ),
        (
            {"key": "9", "mask": True},
            {"key": [KEY_RULE], "value": ["Value field required", TOO_SHORT]},
        ),
    ],
)
def test_invalid_fields_are_reported_together_with_djinns_messages(
    client: Client, alice: Auth, body: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    response = post(client, alice, **body)

    assert response.status_code == 400
    assert response.json() == expected


@pytest.mark.parametrize("key", ["A", "_", "_9", "a", "Db_Host_2", "x" * 200])
def test_key_is_letters_digits_underscores_not_starting_with_a_digit(
    client: Client, alice: Auth, key: str
) -> None:
    response = post(client, alice, key=key, value="v")

    assert response.status_code == 201
    assert response.json()["key"] == key


def test_masked_value_of_exactly_six_characters_is_accepted(client: Client, alice: Auth) -> None:
    response = post(client, alice, key="TOKEN", value="abcdef", mask=True)

    assert response.status_code == 201
    assert response.json()["masked"] is True


def test_unmasked_value_may_be_one_character(client: Client, alice: Auth) -> None:
    response = post(client, alice, key="FLAG", value="1")

    assert response.status_code == 201


def test_taken_key_is_reported_with_every_other_failed_rule(client: Client, alice: Auth) -> None:
    create(client, alice, key="TOKEN")

    response = post(client, alice, key="TOKEN", value="abc", mask=True)

    assert response.status_code == 400
    assert response.json() == {"key": ["Key already exists"], "value": [TOO_SHORT]}


def test_taken_key_in_a_namespace_is_reported_with_other_errors(
    client: Client, alice: Auth
) -> None:
    create(client, alice, key="TOKEN", namespace="proj")

    response = post(client, alice, key="TOKEN", value="", namespace="proj")

    assert response.status_code == 400
    assert response.json() == {"key": ["Key already exists"], "value": ["Value field required"]}


def test_keys_are_unique_per_namespace_and_per_owner(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create(client, alice, key="TOKEN")
    create(client, alice, key="TOKEN", namespace="proj")
    create(client, alice, key="TOKEN", namespace="proj/sub")
    create(client, alice, key="TOKEN", namespace="other")
    create(client, bob, key="TOKEN")

    again = [
        post(client, alice, key="TOKEN", value="x", namespace=ns).json()
        for ns in (None, "proj", "proj/sub", "other")
    ]

    assert again == [{"key": ["Key already exists"]}] * 4


def test_keys_differing_in_case_are_different_keys(client: Client, alice: Auth) -> None:
    create(client, alice, key="token")

    response = post(client, alice, key="TOKEN", value="x")

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"key": 1, "value": "x"}, {"key": ["Key must be a string"]}),
        ({"key": "A", "value": 12}, {"value": ["Value must be a string"]}),
        ({"key": "A", "value": "x", "mask": "yes"}, {"mask": ["Mask must be a boolean"]}),
        pytest.param(
            {"key": "A", "value": "x", "namespace": ["proj"]},
            {"namespace": ["Namespace must be a string"]},
        ),
        pytest.param(
            {"key": "A", "value": "x", "namespace": 2},
            {"namespace": ["Namespace must be a string"]},
        ),
        (
            {"key": "A", "value": 1, "namespace": 2},
            {"value": ["Value must be a string"], "namespace": ["Namespace must be a string"]},
        ),
        (
            {"key": ["A"], "value": {"v": 1}, "mask": 1, "namespace": 2, "colour": "red"},
            {
                "key": ["Key must be a string"],
                "value": ["Value must be a string"],
                "mask": ["Mask must be a boolean"],
                "namespace": ["Namespace must be a string"],
            },
        ),
    ],
)
def test_wrong_types_name_each_field_and_unknown_ones_are_ignored(
    client: Client, alice: Auth, body: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    response = client.post("/api/variables", json=body, headers=alice)

    assert response.status_code == 400
    assert response.json() == expected


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'"key"', b"null", b'{"key": "A",'])
def test_undecodable_body_is_a_message(client: Client, alice: Auth, content: bytes) -> None:
    headers = {**alice, "Content-Type": "application/json"}

    response = client.post("/api/variables", content=content, headers=headers)

    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_nul_in_a_value_is_a_field_error(client: Client, alice: Auth) -> None:
    response = post(client, alice, key="A", value="a\x00b")

    assert response.status_code == 400
    assert response.json() == {"value": ["Value cannot contain NUL characters"]}


# --- create: namespace references -------------------------------------------------------


def test_own_missing_namespace_and_parents_are_created_with_the_variable(
    client: Client, alice: Auth
) -> None:
    root = create_ns(client, alice, "proj", visibility="internal")

    body = create(client, alice, namespace="proj/sub/deep")

    deep = client.get("/api/n/alice/proj/sub/deep", headers=alice).json()
    sub = client.get("/api/n/alice/proj/sub", headers=alice).json()
    assert body["namespace_id"] == deep["id"]
    assert body["namespace"]["path"] == "proj/sub/deep"
    assert (deep["parent_id"], sub["parent_id"]) == (sub["id"], root["id"])
    assert (deep["visibility"], sub["visibility"]) == ("internal", "internal")


def test_a_new_root_namespace_is_private(client: Client, alice: Auth, bob: Auth) -> None:
    body = create(client, alice, namespace="fresh")

    assert body["namespace"]["visibility"] == "private"
    assert_not_found(client.get("/api/n/alice/fresh", headers=bob))


def test_own_namespace_may_be_named_with_an_owner_suffix(client: Client, alice: Auth) -> None:
    ns = create_ns(client, alice, "proj")

    body = create(client, alice, namespace="proj@alice")

    assert body["namespace_id"] == ns["id"]


def test_digits_are_allowed_in_a_namespace_reference(client: Client, alice: Auth) -> None:
    body = create(client, alice, namespace="proj2/v10")

    assert body["namespace"]["path"] == "proj2/v10"


@pytest.mark.parametrize(
    "failure",
    [
        {"key": "1BAD", "value": "x"},
        {"key": "A", "value": ""},
        {"key": "A", "value": "short", "mask": True},
        {"key": "A", "value": "x", "mask": "sometimes"},
        {"key": 5, "value": "x"},
        {"key": "A", "value": "x", "namespace": "fresh/a-b"},
        {"key": "A", "value": "x", "namespace": "fresh/taken"},
    ],
)
def test_failed_request_creates_no_namespace(
    client: Client, alice: Auth, failure: dict[str, Any]
) -> None:
    create_ns(client, alice, "taken")  # namespace names are unique per owner at every level
    body = {"namespace": "fresh/sub", **failure}

    response = post(client, alice, **body)

    assert response.status_code == 400
    assert_not_found(client.get("/api/n/alice/fresh", headers=alice))
    assert [n["path"] for n in client.get("/api/namespaces", headers=alice).json()] == ["taken"]


def test_namespace_names_are_free_again_after_a_failed_request(client: Client, alice: Auth) -> None:
    post(client, alice, key="A", value="", namespace="fresh/sub")

    body = create(client, alice, key="A", namespace="fresh/sub")

    assert body["namespace"]["path"] == "fresh/sub"


def test_bad_namespace_segment_is_reported_with_other_errors(client: Client, alice: Auth) -> None:
    response = post(client, alice, key="1A", value="x", namespace="proj/" + "x" * 33)

    assert response.status_code == 400
    body = response.json()
    assert body["key"] == [KEY_RULE]
    assert "cannot be longer than 32 characters" in body["namespace"][0]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("a-b", "a-b: namespace: name can only contain letters and numbers"),
        ("proj/", None),
        ("@alice", "@alice: invalid namespace path"),
        ("proj@", "proj@: namespace: invalid owner"),
        ("proj@bad name", "proj@bad name: namespace: invalid owner"),
        ("/".join(["abc"] * 21), "namespace: cannot exceed depth of 20"),
        ("x" * 33, "namespace: name cannot be longer than 32 characters in length"),
    ],
)
def test_bad_namespace_reference_is_a_field_error(
    client: Client, alice: Auth, reference: str, message: str | None
) -> None:
    response = post(client, alice, key="A", value="x", namespace=reference)

    if message is None:  # a trailing slash is ignored, as in namespace URLs
        assert response.status_code == 201
        assert response.json()["namespace"]["path"] == "proj"
        return
    assert response.status_code == 400
    (only,) = response.json()["namespace"]
    assert only.endswith(message)
    assert set(response.json()) == {"namespace"}


def test_bad_namespace_reference_is_not_mistaken_for_a_taken_key(
    client: Client, alice: Auth
) -> None:
    create(client, alice, key="TOKEN")

    response = post(client, alice, key="TOKEN", value="x", namespace="no-dash")

    assert response.status_code == 400
    assert response.json() == {
        "namespace": ["no-dash: namespace: name can only contain letters and numbers"]
    }


@pytest.mark.parametrize("reference", ["", "   "])
def test_blank_namespace_means_none(client: Client, alice: Auth, reference: str) -> None:
    body = create(client, alice, namespace=reference)

    assert body["namespace"] is None


@pytest.mark.parametrize("visibility", ["private", "internal", "public"])
def test_another_users_namespace_is_422_for_non_collaborators(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)

    response = post(client, bob, key="A", value="x", namespace="proj@alice")

    assert response.status_code == 422
    assert response.json() == DENIED
    assert keys(client.get("/api/n/alice/proj/-/variables", headers=alice)) == []


def test_another_users_missing_namespace_is_422_and_not_created(
    client: Client, alice: Auth, bob: Auth
) -> None:
    response = post(client, bob, key="A", value="x", namespace="proj/sub@alice")

    assert response.status_code == 422
    assert response.json() == DENIED
    assert_not_found(client.get("/api/n/alice/proj", headers=alice))


def test_another_users_missing_child_is_422_even_for_a_collaborator(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    ns = create_ns(client, alice, "proj")
    add_collaborator(marid, ns["id"], bob_id)

    response = post(client, bob, key="A", value="x", namespace="proj/sub@alice")

    assert response.status_code == 422
    assert_not_found(client.get("/api/n/alice/proj/sub", headers=alice))


def test_unknown_owner_is_422(client: Client, alice: Auth) -> None:
    response = post(client, alice, key="A", value="x", namespace="proj@nobody")

    assert response.status_code == 422
    assert response.json() == DENIED


def test_field_errors_come_before_the_namespace_refusal(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "proj")

    refused = post(client, bob, key="1A", value="x", namespace="proj@alice")
    unknown = post(client, bob, key="A", value="", namespace="proj@nobody")

    assert (refused.status_code, refused.json()) == (400, {"key": [KEY_RULE]})
    assert (unknown.status_code, unknown.json()) == (400, {"value": ["Value field required"]})


def test_collaborator_creates_in_a_child_of_the_shared_tree(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    sub = create_ns(client, alice, "sub", parent="proj")
    add_collaborator(marid, root["id"], bob_id)

    body = create(client, bob, namespace="proj/sub@alice")

    assert body["namespace_id"] == sub["id"]


# --- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [None, "proj", "fresh/sub"])
def test_concurrent_creates_of_one_key_have_one_winner(
    client: Client, alice: Auth, namespace: str | None
) -> None:
    create_ns(client, alice, "proj")
    racers = 4
    barrier = threading.Barrier(racers)

    def attempt(_: int) -> Any:
        barrier.wait(timeout=10)
        return post(client, alice, key="RACE", value="x", namespace=namespace)

    with ThreadPoolExecutor(racers) as pool:
        responses = list(pool.map(attempt, range(racers)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * (racers - 1)
    losers = [r.json() for r in responses if r.status_code == 400]
    assert losers == [{"key": ["Key already exists"]}] * (racers - 1)
    assert keys(client.get("/api/variables", headers=alice)) == ["RACE"]


# --- authentication, scopes and the order of checks ----------------------------------------


def test_writes_and_top_level_lists_need_a_token(client: Client, alice: Auth) -> None:
    variable = create(client, alice)

    answers = [
        client.get("/api/variables"),
        client.post("/api/variables", json={"key": "A", "value": "x"}),
        client.post("/api/variables", content=b"not json"),
        client.delete(f"/api/variables/{variable['id']}"),
        client.delete("/api/variables/999"),
    ]

    for response in answers:
        assert_unauthorized(response)


def test_bad_token_is_401_even_on_reads(client: Client, alice: Auth) -> None:
    variable = create(client, alice, namespace="proj")
    bad = {"Authorization": "Bearer " + "0" * 32}

    answers = [
        client.get("/api/variables", headers=bad),
        client.get(f"/api/variables/{variable['id']}", headers=bad),
        client.get("/api/n/alice/proj/-/variables", headers=bad),
    ]

    for response in answers:
        assert_unauthorized(response)


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/variables", "variable:read"),
        ("GET", "/api/variables/{id}", "variable:read"),
        ("GET", "/api/variables/999", "variable:read"),
        ("POST", "/api/variables", "variable:write"),
        ("DELETE", "/api/variables/{id}", "variable:delete"),
        ("DELETE", "/api/variables/999", "variable:delete"),
    ],
)
def test_each_route_needs_its_scope_before_anything_else(
    client: Client,
    users: Users,
    marid: Marid,
    method: str,
    path: str,
    scope: str,
) -> None:
    alice_id, alice = users.create("alice")
    variable = create(client, alice)
    others = " ".join(
        f"{r}:read,write,delete" for r in ("build", "namespace", "key", "object", "image")
    )
    every_other_variable_perm = {
        "variable:read": "variable:write,delete",
        "variable:write": "variable:read,delete",
        "variable:delete": "variable:read,write",
    }[scope]
    limited = token(marid, alice_id, f"{others} {every_other_variable_perm}")

    response = client.request(
        method,
        path.format(id=variable["id"]),
        content=b"not json" if method == "POST" else None,
        headers={**limited, "Content-Type": "application/json"},
    )

    assert_lacks_scope(response, scope)


def test_each_route_works_with_exactly_its_scope(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, alice = users.create("alice")
    variable = create(client, alice)
    reader = token(marid, alice_id, "variable:read")
    writer = token(marid, alice_id, "variable:write")
    deleter = token(marid, alice_id, "variable:delete")

    answers = [
        client.get("/api/variables", headers=reader).status_code,
        client.get(f"/api/variables/{variable['id']}", headers=reader).status_code,
        post(client, writer, key="OTHER", value="x").status_code,
        client.delete(f"/api/variables/{variable['id']}", headers=deleter).status_code,
    ]

    assert answers == [200, 200, 201, 204]


def test_creating_into_a_new_namespace_needs_no_namespace_scope(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, _ = users.create("alice")
    writer = token(marid, alice_id, "variable:write")

    response = post(client, writer, key="A", value="x", namespace="proj")

    assert response.status_code == 201


def test_unknown_variable_is_404(client: Client, alice: Auth) -> None:
    assert_not_found(client.get("/api/variables/999", headers=alice))
    assert_not_found(client.delete("/api/variables/999", headers=alice))
    assert_not_found(client.get("/api/variables/999"))


def test_non_numeric_id_is_404(client: Client, alice: Auth) -> None:
    response = client.get("/api/variables/abc", headers=alice)

    assert_not_found(response)


def test_method_not_allowed_on_a_variable(client: Client, alice: Auth) -> None:
    variable = create(client, alice)

    response = client.patch(f"/api/variables/{variable['id']}", json={}, headers=alice)

    assert response.status_code == 405
    assert response.json() == {"message": "Method Not Allowed"}


# --- read access ----------------------------------------------------------------------------


@pytest.mark.parametrize("visibility", READERS)
def test_variable_by_id_follows_the_namespace_visibility(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)
    variable = create(client, alice, namespace="proj/sub")
    url = f"/api/variables/{variable['id']}"

    answers = tuple(client.get(url, headers=h).status_code for h in ({}, bob, alice))

    assert answers == READERS[visibility]


@pytest.mark.parametrize("visibility", READERS)
def test_namespace_sub_list_follows_the_namespace_visibility(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)
    create(client, alice, namespace="proj/sub")

    answers = tuple(
        client.get("/api/n/alice/proj/sub/-/variables", headers=h).status_code
        for h in ({}, bob, alice)
    )

    assert answers == READERS[visibility]


def test_anonymous_caller_reads_a_public_variable_in_full(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj", visibility="public")
    variable = create(client, alice, namespace="proj")

    by_id = client.get(f"/api/variables/{variable['id']}")
    listed = client.get("/api/n/alice/proj/-/variables")

    assert by_id.json() == variable
    assert listed.json() == [variable]


def test_personal_variable_is_visible_to_its_owner_only(
    client: Client, alice: Auth, bob: Auth
) -> None:
    variable = create(client, alice)

    answers = [client.get(f"/api/variables/{variable['id']}", headers=h) for h in ({}, bob)]

    for response in answers:
        assert_not_found(response)


def test_public_variable_is_readable_without_the_variable_scope(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, _ = users.create("bob")
    no_scope = token(marid, bob_id, "build:read")
    create_ns(client, alice, "proj", visibility="public")
    variable = create(client, alice, namespace="proj")

    response = client.get(f"/api/variables/{variable['id']}", headers=no_scope)

    assert response.status_code == 200


def test_internal_variable_needs_the_variable_scope(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, _ = users.create("bob")
    no_scope = token(marid, bob_id, "namespace:read")
    create_ns(client, alice, "proj", visibility="internal")
    variable = create(client, alice, namespace="proj")

    response = client.get(f"/api/variables/{variable['id']}", headers=no_scope)

    assert_lacks_scope(response, "variable:read")


def test_sub_list_needs_namespace_read_unless_public(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, _ = users.create("bob")
    variables_only = token(marid, bob_id, "variable:read")
    create_ns(client, alice, "open", visibility="public")
    create_ns(client, alice, "corp", visibility="internal")

    public = client.get("/api/n/alice/open/-/variables", headers=variables_only)
    internal = client.get("/api/n/alice/corp/-/variables", headers=variables_only)

    assert public.status_code == 200
    assert_lacks_scope(internal, "namespace:read")


def test_sub_list_of_an_unknown_namespace_is_404(client: Client, alice: Auth) -> None:
    assert_not_found(client.get("/api/n/alice/nope/-/variables", headers=alice))
    assert_not_found(client.get("/api/n/nobody/nope/-/variables"))


def test_collaborator_reads_variables_of_a_private_tree(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    variable = create(client, alice, namespace="proj/sub")
    add_collaborator(marid, root["id"], bob_id)

    by_id = client.get(f"/api/variables/{variable['id']}", headers=bob)
    listed = client.get("/api/n/alice/proj/sub/-/variables", headers=bob)

    assert by_id.json() == variable
    assert listed.json() == [variable]


# --- lists ------------------------------------------------------------------------------------


def test_list_holds_own_and_collaborated_variables_by_key(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    shared = create_ns(client, alice, "shared")
    create_ns(client, alice, "public", visibility="public")
    create_ns(client, alice, "corp", visibility="internal")
    create(client, alice, key="C_SHARED", namespace="shared")
    create(client, alice, key="E_SHARED_CHILD", namespace="shared/sub")
    create(client, alice, key="X_ALICE_ALONE")
    create(client, alice, key="X_ALICE_PUBLIC", namespace="public")
    create(client, alice, key="X_ALICE_INTERNAL", namespace="corp")
    create(client, bob, key="D_BOB")
    create(client, bob, key="A_BOB", namespace="mine")
    add_collaborator(marid, shared["id"], bob_id)

    response = client.get("/api/variables", headers=bob)

    assert keys(response) == ["A_BOB", "C_SHARED", "D_BOB", "E_SHARED_CHILD"]
    assert response.headers["x-total-count"] == "4"


def test_list_holds_variables_a_collaborator_made_for_the_owner(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    add_collaborator(marid, root["id"], bob_id)
    create(client, bob, key="BY_BOB", namespace="proj@alice")

    mine = client.get("/api/variables", headers=alice)
    theirs = client.get("/api/variables", headers=bob)

    assert keys(mine) == keys(theirs) == ["BY_BOB"]


def test_another_users_variables_are_not_listed_whatever_the_visibility(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "open", visibility="public")
    create(client, alice, key="PUBLIC_ONE", namespace="open")
    create(client, alice, key="PRIVATE_ONE")

    response = client.get("/api/variables", headers=bob)

    assert keys(response) == []
    assert response.headers["x-total-count"] == "0"


def test_empty_list_is_an_empty_array(client: Client, alice: Auth) -> None:
    response = client.get("/api/variables", headers=alice)

    assert response.status_code == 200
    assert response.json() == []


def test_search_matches_keys_case_insensitively(client: Client, alice: Auth) -> None:
    for key in ("DB_HOST", "db_port", "API_TOKEN", "XDBX"):
        create(client, alice, key=key)

    response = client.get("/api/variables", params={"search": "Db"}, headers=alice)

    assert sorted(keys(response)) == ["DB_HOST", "XDBX", "db_port"]


def test_search_applies_to_own_and_collaborated_variables(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    add_collaborator(marid, root["id"], bob_id)
    create(client, alice, key="SHARED_HIT", namespace="proj")
    create(client, alice, key="SHARED_MISS", namespace="proj")
    create(client, bob, key="OWN_HIT")
    create(client, bob, key="OWN_MISS")

    response = client.get("/api/variables", params={"search": "hit"}, headers=bob)

    assert keys(response) == ["OWN_HIT", "SHARED_HIT"]


@pytest.mark.parametrize(("search", "expected"), [("%", []), ("_", ["A_B"]), ("A_", ["A_B"])])
def test_search_wildcards_are_literal(
    client: Client, alice: Auth, search: str, expected: list[str]
) -> None:
    create(client, alice, key="A_B")
    create(client, alice, key="AXB")

    response = client.get("/api/variables", params={"search": search}, headers=alice)

    assert keys(response) == expected


def test_sub_list_holds_only_that_namespaces_variables_and_searches(
    client: Client, alice: Auth
) -> None:
    create(client, alice, key="ROOT_B", namespace="proj")
    create(client, alice, key="ROOT_A", namespace="proj")
    create(client, alice, key="CHILD", namespace="proj/sub")
    create(client, alice, key="ROOT_PERSONAL")

    whole = client.get("/api/n/alice/proj/-/variables", headers=alice)
    searched = client.get("/api/n/alice/proj/-/variables", params={"search": "_a"}, headers=alice)

    assert keys(whole) == ["ROOT_A", "ROOT_B"]
    assert keys(searched) == ["ROOT_A"]


def test_lists_are_paged_with_link_and_total_headers(client: Client, alice: Auth) -> None:
    for n in range(5):
        create(client, alice, key=f"K{n}")

    response = client.get("/api/variables", params={"per_page": "2", "page": "2"}, headers=alice)

    assert keys(response) == ["K2", "K3"]
    assert response.headers["x-total-count"] == "5"
    link = response.headers["link"]
    assert '</api/variables?per_page=2&page=1>; rel="prev"' in link
    assert '</api/variables?per_page=2&page=3>; rel="next"' in link
    assert '</api/variables?per_page=2&page=1>; rel="first"' in link
    assert '</api/variables?per_page=2&page=3>; rel="last"' in link


def test_page_past_the_end_gives_the_last_page(client: Client, alice: Auth) -> None:
    for n in range(3):
        create(client, alice, key=f"K{n}", namespace="proj")

    response = client.get(
        "/api/n/alice/proj/-/variables", params={"per_page": "2", "page": "9"}, headers=alice
    )

    assert keys(response) == ["K2"]
    assert (
        '</api/n/alice/proj/-/variables?per_page=2&page=2>; rel="last"'
        in (response.headers["link"])
    )


def test_default_page_holds_25(client: Client, alice: Auth) -> None:
    for n in range(26):
        create(client, alice, key=f"K{n:02}")

    first = client.get("/api/variables", headers=alice)
    second = client.get("/api/variables", params={"page": "2"}, headers=alice)

    assert len(first.json()) == 25
    assert keys(second) == ["K25"]


# --- masking --------------------------------------------------------------------------------


def test_masked_value_is_hidden_in_every_response(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj", visibility="public")

    created = create(client, alice, key="TOKEN", value=SECRET, mask=True, namespace="proj")

    answers = [
        created,
        client.get(f"/api/variables/{created['id']}", headers=alice).json(),
        client.get(f"/api/variables/{created['id']}").json(),
        client.get("/api/variables", headers=alice).json()[0],
        client.get("/api/n/alice/proj/-/variables").json()[0],
        client.get("/api/n/alice/proj/-/variables", headers=alice).json()[0],
    ]
    for body in answers:
        assert (body["value"], body["masked"]) == ("xxxxxx", True)


def test_masked_value_is_never_in_clear_in_an_event_or_the_table(
    client: Client, marid: Marid, alice: Auth
) -> None:
    plain = "plain-visible-value"

    masked = create(client, alice, key="TOKEN", value=SECRET, mask=True, namespace="proj")
    create(client, alice, key="OPEN", value=plain)

    events = event_states(marid)
    assert plain.encode() in events  # the check below would see a value in clear
    assert SECRET.encode() not in events
    sealed = stored_value(marid, masked["id"])
    assert SECRET not in sealed
    assert marid.app.secrets.open(sealed) == SECRET


def test_masked_value_stays_sealed_after_delete(client: Client, marid: Marid, alice: Auth) -> None:
    masked = create(client, alice, key="TOKEN", value=SECRET, mask=True)

    client.delete(f"/api/variables/{masked['id']}", headers=alice)

    assert SECRET.encode() not in event_states(marid)


# --- delete ---------------------------------------------------------------------------------


def test_delete_answers_204_and_the_variable_is_gone(client: Client, alice: Auth) -> None:
    variable = create(client, alice, namespace="proj")

    response = client.delete(f"/api/variables/{variable['id']}", headers=alice)

    assert response.status_code == 204
    assert response.content == b""
    assert_not_found(client.get(f"/api/variables/{variable['id']}", headers=alice))
    assert keys(client.get("/api/variables", headers=alice)) == []
    assert keys(client.get("/api/n/alice/proj/-/variables", headers=alice)) == []


def test_deleting_twice_is_404(client: Client, alice: Auth) -> None:
    variable = create(client, alice)
    client.delete(f"/api/variables/{variable['id']}", headers=alice)

    response = client.delete(f"/api/variables/{variable['id']}", headers=alice)

    assert_not_found(response)


@pytest.mark.parametrize("namespace", [None, "proj", "proj/sub"])
def test_delete_frees_the_key(client: Client, alice: Auth, namespace: str | None) -> None:
    variable = create(client, alice, key="TOKEN", namespace=namespace)
    client.delete(f"/api/variables/{variable['id']}", headers=alice)

    again = create(client, alice, key="TOKEN", value="new", namespace=namespace)

    assert again["id"] != variable["id"]
    assert keys(client.get("/api/variables", headers=alice)) == ["TOKEN"]


def test_collaborator_deletes_the_owners_variable(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    variable = create(client, alice, namespace="proj/sub")
    add_collaborator(marid, root["id"], bob_id)

    response = client.delete(f"/api/variables/{variable['id']}", headers=bob)

    assert response.status_code == 204
    assert keys(client.get("/api/variables", headers=alice)) == []


def test_owner_deletes_a_collaborators_variable(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    add_collaborator(marid, root["id"], bob_id)
    variable = create(client, bob, namespace="proj@alice")

    response = client.delete(f"/api/variables/{variable['id']}", headers=alice)

    assert response.status_code == 204


@pytest.mark.parametrize("visibility", ["public", "internal"])
def test_reader_may_not_delete_and_gets_404(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)
    variable = create(client, alice, namespace="proj")

    response = client.delete(f"/api/variables/{variable['id']}", headers=bob)

    assert_not_found(response)
    assert client.get(f"/api/variables/{variable['id']}", headers=alice).status_code == 200


def test_hidden_variable_delete_is_404(client: Client, alice: Auth, bob: Auth) -> None:
    private = create(client, alice, key="A", namespace="proj")
    personal = create(client, alice, key="B")

    answers = [client.delete(f"/api/variables/{v['id']}", headers=bob) for v in (private, personal)]

    for response in answers:
        assert_not_found(response)
    assert keys(client.get("/api/variables", headers=alice)) == ["A", "B"]


def test_delete_with_a_body_that_is_not_an_object_is_refused(client: Client, alice: Auth) -> None:
    variable = create(client, alice)

    response = client.request(
        "DELETE",
        f"/api/variables/{variable['id']}",
        content=b'["key"]',
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert client.get(f"/api/variables/{variable['id']}", headers=alice).status_code == 200


def test_delete_ignores_the_fields_of_a_body(client: Client, alice: Auth) -> None:
    """Djinn's client may send a body; DELETE reads none of it (CONTRACT.md)."""
    variable = create(client, alice)

    response = client.request(
        "DELETE",
        f"/api/variables/{variable['id']}",
        content=b'{"key": "A"}',
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 204
    assert client.get(f"/api/variables/{variable['id']}", headers=alice).status_code == 404


# --- deleting a namespace detaches its variables ---------------------------------------------


def test_deleting_a_namespace_detaches_its_variables_to_the_owner(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj", visibility="public")
    in_root = create(client, alice, key="IN_ROOT", namespace="proj")
    in_child = create(client, alice, key="IN_CHILD", namespace="proj/sub")
    add_collaborator(marid, root["id"], bob_id)
    by_bob = create(client, bob, key="BY_BOB", namespace="proj@alice")

    response = client.delete("/api/n/alice/proj", headers=alice)

    assert response.status_code == 204
    listed = client.get("/api/variables", headers=alice).json()
    assert [(v["key"], v["namespace_id"], v["namespace"]) for v in listed] == [
        ("BY_BOB", None, None),
        ("IN_CHILD", None, None),
        ("IN_ROOT", None, None),
    ]
    for variable in (in_root, in_child, by_bob):
        got = client.get(f"/api/variables/{variable['id']}", headers=alice)
        assert got.status_code == 200
        assert (got.json()["namespace"], got.json()["user_id"]) == (None, variable["user_id"])


def test_detached_variables_are_gone_from_everyone_else(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj", visibility="public")
    add_collaborator(marid, root["id"], bob_id)
    variable = create(client, bob, key="BY_BOB", namespace="proj@alice")
    client.delete("/api/n/alice/proj", headers=alice)

    by_id = [client.get(f"/api/variables/{variable['id']}", headers=h) for h in ({}, bob)]
    listed = client.get("/api/variables", headers=bob)

    for response in by_id:
        assert_not_found(response)
    assert keys(listed) == []
    assert_not_found(client.delete(f"/api/variables/{variable['id']}", headers=bob))


def test_recreated_namespace_does_not_inherit_detached_variables(
    client: Client, alice: Auth
) -> None:
    create(client, alice, key="OLD", namespace="proj")
    client.delete("/api/n/alice/proj", headers=alice)

    fresh = create(client, alice, key="OLD", namespace="proj")

    listed = client.get("/api/n/alice/proj/-/variables", headers=alice)
    assert [v["id"] for v in listed.json()] == [fresh["id"]]


def test_owner_deletes_a_detached_variable(client: Client, alice: Auth) -> None:
    variable = create(client, alice, key="OLD", namespace="proj")
    client.delete("/api/n/alice/proj", headers=alice)

    response = client.delete(f"/api/variables/{variable['id']}", headers=alice)

    assert response.status_code == 204
    assert keys(client.get("/api/variables", headers=alice)) == []


def test_deleting_a_child_namespace_detaches_only_its_variables(
    client: Client, alice: Auth
) -> None:
    create(client, alice, key="IN_ROOT", namespace="proj")
    create(client, alice, key="IN_CHILD", namespace="proj/sub")

    client.delete("/api/n/alice/proj/sub", headers=alice)

    listed = client.get("/api/variables", headers=alice).json()
    assert [(v["key"], v["namespace"] and v["namespace"]["path"]) for v in listed] == [
        ("IN_CHILD", None),
        ("IN_ROOT", "proj"),
    ]
