"""SSH keys over HTTP: validation, the private key sealed and never returned, access, lists,
updates, deletes and detaching.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import PrivateFormat

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
    links,
    names,
    token,
)
from tests.unit.test_keys import (
    ed25519_key,
    encrypted_openssh_key,
    encrypted_pem_key,
    rsa_key,
    truncated,
)

NO_KEY = "Key ssh: no key found"
PROTECTED = "Key ssh: this private key is passphrase protected"
FIELDS = {
    "id",
    "author_id",
    "user_id",
    "namespace_id",
    "name",
    "config",
    "created_at",
    "updated_at",
    "url",
    "author",
    "user",
    "namespace",
}


def post(client: Client, auth: Auth, **body: Any) -> Any:
    return client.post("/api/keys", json=body, headers=auth)


def create(
    client: Client, auth: Auth, name: str = "deploy", key: str | None = None, **fields: Any
) -> dict[str, Any]:
    response = post(client, auth, name=name, key=key or ed25519_key(), **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def everything_stored(marid: Marid) -> str:
    """Every event's state and every row of every table, as text."""
    with marid.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row["tablename"] for row in curs.fetchall()]
        dumped = []
        for table in tables:
            curs.execute(f"SELECT t::text AS row FROM {table} t")  # names from pg_tables
            dumped += [row["row"] for row in curs.fetchall()]
        curs.execute("SELECT state FROM marid_events")
        dumped += [bytes(row["state"]).decode() for row in curs.fetchall()]
    assert "marid_events" in tables  # the event store was dumped too
    return "\n".join(dumped)


# --- create: the resource and its shape ----------------------------------------------------


def test_created_key_has_djinns_shape_without_the_private_key(client: Client, users: Users) -> None:
    alice_id, alice = users.create("alice")
    text = ed25519_key()

    response = post(client, alice, name="id_ed25519", key=text, config="Host github.com")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert (body["author_id"], body["user_id"], body["namespace_id"]) == (alice_id, alice_id, None)
    assert (body["name"], body["config"]) == ("id_ed25519", "Host github.com")
    assert body["url"] == f"{BASE}/keys/{body['id']}"
    assert body["author"]["username"] == body["user"]["username"] == "alice"
    assert body["namespace"] is None
    assert body["created_at"].endswith("Z")
    assert body["updated_at"] == body["created_at"]
    assert text.splitlines()[1] not in response.text


def test_config_defaults_to_empty(client: Client, alice: Auth) -> None:
    body = create(client, alice)

    assert body["config"] == ""


def test_get_returns_what_create_returned(client: Client, alice: Auth) -> None:
    body = create(client, alice, namespace="proj")

    response = client.get(f"/api/keys/{body['id']}", headers=alice)

    assert response.status_code == 200
    assert response.json() == body


def test_key_in_a_namespace_nests_the_namespace(client: Client, alice: Auth) -> None:
    body = create(client, alice, namespace="proj/sub")

    namespace = body["namespace"]
    assert namespace["path"] == "proj/sub"
    assert body["namespace_id"] == namespace["id"]
    assert namespace["url"] == f"{BASE}/n/alice/proj/sub"


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa_key(PrivateFormat.TraditionalOpenSSL),
        lambda: rsa_key(PrivateFormat.OpenSSH),
        lambda: ed25519_key(PrivateFormat.PKCS8),
        lambda: ed25519_key(PrivateFormat.OpenSSH),
    ],
    ids=["rsa-pem", "rsa-openssh", "ed25519-pkcs8", "ed25519-openssh"],
)
def test_rsa_and_ed25519_keys_in_openssh_and_pem_formats_are_accepted(
    client: Client, alice: Auth, make: Any
) -> None:
    response = post(client, alice, name="deploy", key=make())

    assert response.status_code == 201, response.text


def test_collaborators_key_belongs_to_the_namespace_owner(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, alice = users.create("alice")
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    add_collaborator(marid, root["id"], bob_id)

    body = create(client, bob, namespace="proj@alice")

    assert (body["user_id"], body["author_id"]) == (alice_id, bob_id)
    assert body["namespace_id"] == root["id"]


# --- create: validation --------------------------------------------------------------------


def test_missing_fields_are_reported_together_with_djinns_messages(
    client: Client, alice: Auth
) -> None:
    response = post(client, alice)

    assert response.status_code == 400
    assert response.json() == {
        "name": ["Name field required"],
        "key": ["Key field required", NO_KEY],
    }


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: "not a key", NO_KEY),
        (lambda: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx me@host", NO_KEY),
        (lambda: ed25519_key()[:120], NO_KEY),
        (lambda: encrypted_pem_key(), PROTECTED),
        (lambda: encrypted_pem_key(PrivateFormat.PKCS8), PROTECTED),
        (encrypted_openssh_key, PROTECTED),
        (lambda: truncated(ed25519_key(), 3), "Key ssh: invalid openssh private key format"),
        (lambda: truncated(rsa_key(), 10), "Key ssh: malformed private key"),
    ],
    ids=[
        "garbage",
        "public-key",
        "cut-short",
        "pem-passphrase",
        "pkcs8-passphrase",
        "openssh-passphrase",
        "truncated-openssh",
        "truncated-pem",
    ],
)
def test_unusable_private_key_is_a_400_with_the_reason(
    client: Client, alice: Auth, make: Any, message: str
) -> None:
    response = post(client, alice, name="deploy", key=make())

    assert response.status_code == 400
    assert response.json() == {"key": [message]}


def test_carriage_returns_are_removed_from_the_stored_key(
    client: Client, marid: Marid, alice: Auth
) -> None:
    text = ed25519_key()

    body = create(client, alice, key=text.replace("\n", "\r\n"))

    ssh_key = marid.app.live_key(body["id"])
    assert marid.app.secrets.open(ssh_key.key) == text


def test_bad_namespace_reference_is_not_mistaken_for_a_taken_name(
    client: Client, alice: Auth
) -> None:
    create(client, alice)

    response = post(client, alice, name="deploy", key="junk", namespace="a b")

    assert response.status_code == 400
    assert response.json() == {
        "key": [NO_KEY],
        "namespace": ["a b: namespace: name can only contain letters and numbers"],
    }


def test_taken_name_is_reported_with_a_bad_key(client: Client, alice: Auth) -> None:
    create(client, alice, namespace="proj")

    response = post(client, alice, name="deploy", key="junk", namespace="proj")

    assert response.status_code == 400
    assert response.json() == {"name": ["Name already exists"], "key": [NO_KEY]}


def test_names_are_unique_per_namespace_and_per_owner(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create(client, alice)
    create(client, alice, namespace="proj")
    create(client, alice, namespace="proj/sub")
    create(client, bob)

    answers = [
        post(client, alice, name="deploy", key=ed25519_key()),
        post(client, alice, name="deploy", key=ed25519_key(), namespace="proj"),
    ]

    for response in answers:
        assert response.status_code == 400
        assert response.json() == {"name": ["Name already exists"]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": 1, "key": "x"}, {"name": ["Name must be a string"], "key": [NO_KEY]}),
        ({"name": "a", "key": ["x"]}, {"key": ["Key must be a string"]}),
        (
            {"name": "a", "key": "x", "config": {}},
            {"config": ["Config must be a string"], "key": [NO_KEY]},
        ),
        ({"name": "a", "key": "x", "secret": "y"}, {"key": [NO_KEY]}),
    ],
    ids=["name-type-with-bad-key", "key-type", "config-type-with-bad-key", "unknown-ignored"],
)
def test_wrong_types_are_reported_with_every_other_problem(
    client: Client, alice: Auth, body: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    response = client.post("/api/keys", json=body, headers=alice)

    assert response.status_code == 400
    assert response.json() == expected


@pytest.mark.parametrize("content", [b"not json", b"[]", b""])
def test_undecodable_body_is_a_message(client: Client, alice: Auth, content: bytes) -> None:
    response = client.post(
        "/api/keys", content=content, headers={**alice, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_own_missing_namespace_is_created_with_the_key(client: Client, alice: Auth) -> None:
    body = create(client, alice, namespace="fresh/sub")

    response = client.get("/api/n/alice/fresh/sub", headers=alice)

    assert response.status_code == 200
    assert response.json()["id"] == body["namespace_id"]


def test_failed_request_creates_no_namespace(client: Client, alice: Auth) -> None:
    post(client, alice, name="deploy", key=encrypted_pem_key(), namespace="fresh")

    assert_not_found(client.get("/api/n/alice/fresh", headers=alice))


@pytest.mark.parametrize("visibility", ["private", "public"])
def test_another_users_namespace_is_422_for_non_collaborators(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)

    response = post(client, bob, name="deploy", key=ed25519_key(), namespace="proj@alice")

    assert response.status_code == 422
    assert response.json() == DENIED


def test_field_errors_come_before_the_namespace_refusal(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "proj")

    response = post(client, bob, name="", key=ed25519_key(), namespace="proj@alice")

    assert response.status_code == 400
    assert response.json() == {"name": ["Name field required"]}


# --- the private key at rest ----------------------------------------------------------------


def test_private_key_is_never_in_clear_in_an_event_or_a_row(
    client: Client, marid: Marid, alice: Auth
) -> None:
    pem, openssh = rsa_key(), ed25519_key()
    first = create(client, alice, name="pem", key=pem, namespace="proj")
    create(client, alice, name="openssh", key=openssh)
    client.patch(f"/api/keys/{first['id']}", json={"config": "Host a"}, headers=alice)

    stored = everything_stored(marid)

    assert "Host a" in stored  # the dump does hold what the keys' events and rows say
    for text in (pem, openssh):
        for line in text.strip().splitlines()[1:-1]:
            assert line not in stored


def test_private_key_is_in_no_response(client: Client, alice: Auth) -> None:
    text = ed25519_key()
    body = create(client, alice, key=text, namespace="proj")
    secret = text.splitlines()[1]

    answers = [
        client.get(f"/api/keys/{body['id']}", headers=alice),
        client.get("/api/keys", headers=alice),
        client.get("/api/n/alice/proj/-/keys", headers=alice),
        client.patch(f"/api/keys/{body['id']}", json={"config": "x"}, headers=alice),
    ]

    for response in answers:
        assert response.status_code == 200
        assert secret not in response.text
        assert '"key"' not in response.text


# --- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [None, "proj"])
def test_concurrent_creates_of_one_name_have_one_winner(
    client: Client, alice: Auth, namespace: str | None
) -> None:
    create_ns(client, alice, "proj")
    racers = 4
    texts = [ed25519_key() for _ in range(racers)]
    barrier = threading.Barrier(racers)

    def attempt(i: int) -> Any:
        barrier.wait(timeout=10)
        return post(client, alice, name="race", key=texts[i], namespace=namespace)

    with ThreadPoolExecutor(racers) as pool:
        responses = list(pool.map(attempt, range(racers)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * (racers - 1)
    losers = [r.json() for r in responses if r.status_code == 400]
    assert losers == [{"name": ["Name already exists"]}] * (racers - 1)
    assert names(client.get("/api/keys", headers=alice)) == ["race"]


# --- authentication, scopes and the order of checks ----------------------------------------


def test_writes_and_top_level_lists_need_a_token(client: Client, alice: Auth) -> None:
    body = create(client, alice)
    url = f"/api/keys/{body['id']}"

    answers = [
        client.get("/api/keys"),
        client.post("/api/keys", json={"name": "a", "key": "x"}),
        client.post("/api/keys", content=b"not json"),
        client.patch(url, json={"config": "x"}),
        client.patch("/api/keys/999", content=b"not json"),
        client.delete(url),
        client.delete("/api/keys/999"),
    ]

    for response in answers:
        assert_unauthorized(response)


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/keys", "key:read"),
        ("GET", "/api/keys/{id}", "key:read"),
        ("GET", "/api/keys/999", "key:read"),
        ("POST", "/api/keys", "key:write"),
        ("PATCH", "/api/keys/{id}", "key:write"),
        ("PATCH", "/api/keys/999", "key:write"),
        ("DELETE", "/api/keys/{id}", "key:delete"),
        ("DELETE", "/api/keys/999", "key:delete"),
    ],
)
def test_each_route_needs_its_scope_before_anything_else(
    client: Client, users: Users, marid: Marid, method: str, path: str, scope: str
) -> None:
    alice_id, alice = users.create("alice")
    body = create(client, alice)
    others = " ".join(
        f"{r}:read,write,delete" for r in ("build", "namespace", "variable", "object", "image")
    )
    every_other_key_perm = {
        "key:read": "key:write,delete",
        "key:write": "key:read,delete",
        "key:delete": "key:read,write",
    }[scope]
    limited = token(marid, alice_id, f"{others} {every_other_key_perm}")

    response = client.request(
        method,
        path.format(id=body["id"]),
        content=b"not json" if method in ("POST", "PATCH") else None,
        headers={**limited, "Content-Type": "application/json"},
    )

    assert_lacks_scope(response, scope)


def test_each_route_works_with_exactly_its_scope(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, alice = users.create("alice")
    body = create(client, alice)
    url = f"/api/keys/{body['id']}"
    reader = token(marid, alice_id, "key:read")
    writer = token(marid, alice_id, "key:write")
    deleter = token(marid, alice_id, "key:delete")

    answers = [
        client.get("/api/keys", headers=reader).status_code,
        client.get(url, headers=reader).status_code,
        post(client, writer, name="other", key=ed25519_key()).status_code,
        client.patch(url, json={"config": "x"}, headers=writer).status_code,
        client.delete(url, headers=deleter).status_code,
    ]

    assert answers == [200, 200, 201, 200, 204]


def test_unknown_key_is_404(client: Client, alice: Auth) -> None:
    answers = [
        client.get("/api/keys/999", headers=alice),
        client.get("/api/keys/999"),
        client.patch("/api/keys/999", json={"config": "x"}, headers=alice),
        client.delete("/api/keys/999", headers=alice),
    ]

    for response in answers:
        assert_not_found(response)


def test_hidden_key_is_404_before_the_body_is_read(client: Client, alice: Auth, bob: Auth) -> None:
    body = create(client, alice)
    url = f"/api/keys/{body['id']}"
    bad_body = {**bob, "Content-Type": "application/json"}

    answers = [
        client.patch(url, content=b"not json", headers=bad_body),
        client.patch(url, json={"name": "other", "key": "x"}, headers=bob),
        client.patch("/api/keys/999", content=b"not json", headers=bad_body),
        client.request("DELETE", url, content=b'{"a": 1}', headers=bad_body),
    ]

    for response in answers:
        assert_not_found(response)


def test_method_not_allowed_on_the_key_list(client: Client, alice: Auth) -> None:
    response = client.delete("/api/keys", headers=alice)

    assert response.status_code == 405
    assert response.json() == {"message": "Method Not Allowed"}


# --- read access ----------------------------------------------------------------------------


@pytest.mark.parametrize("visibility", READERS)
def test_key_by_id_follows_the_namespace_visibility(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)
    body = create(client, alice, namespace="proj/sub")
    url = f"/api/keys/{body['id']}"

    answers = tuple(client.get(url, headers=h).status_code for h in ({}, bob, alice))

    assert answers == READERS[visibility]


@pytest.mark.parametrize("visibility", READERS)
def test_namespace_sub_list_follows_the_namespace_visibility(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)
    create(client, alice, namespace="proj/sub")

    answers = tuple(
        client.get("/api/n/alice/proj/sub/-/keys", headers=h).status_code for h in ({}, bob, alice)
    )

    assert answers == READERS[visibility]


def test_anonymous_caller_lists_a_public_namespaces_keys(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj", visibility="public")
    create(client, alice, namespace="proj")

    response = client.get("/api/n/alice/proj/-/keys")

    assert names(response) == ["deploy"]
    assert set(response.json()[0]) == FIELDS


def test_personal_key_is_visible_to_its_owner_only(client: Client, alice: Auth, bob: Auth) -> None:
    body = create(client, alice)

    answers = [client.get(f"/api/keys/{body['id']}", headers=h) for h in ({}, bob)]

    for response in answers:
        assert_not_found(response)


def test_internal_key_needs_the_key_scope(client: Client, users: Users, marid: Marid) -> None:
    _, alice = users.create("alice")
    bob_id, _ = users.create("bob")
    create_ns(client, alice, "proj", visibility="internal")
    body = create(client, alice, namespace="proj")
    limited = token(marid, bob_id, "namespace:read")

    response = client.get(f"/api/keys/{body['id']}", headers=limited)

    assert_lacks_scope(response, "key:read")


def test_sub_list_needs_namespace_read_unless_public(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, alice = users.create("alice")
    create_ns(client, alice, "open", visibility="public")
    create_ns(client, alice, "closed")
    limited = token(marid, alice_id, "key:read")

    public = client.get("/api/n/alice/open/-/keys", headers=limited)
    private = client.get("/api/n/alice/closed/-/keys", headers=limited)

    assert public.status_code == 200
    assert_lacks_scope(private, "namespace:read")


def test_collaborator_reads_keys_of_a_private_tree(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    body = create(client, alice, namespace="proj/sub")
    add_collaborator(marid, root["id"], bob_id)

    answers = [
        client.get(f"/api/keys/{body['id']}", headers=bob),
        client.get("/api/n/alice/proj/sub/-/keys", headers=bob),
    ]

    assert [r.status_code for r in answers] == [200, 200]


# --- lists ------------------------------------------------------------------------------------


def test_list_holds_own_and_collaborated_keys_by_name(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, alice = users.create("alice")
    _, carol = users.create("carol")
    root = create_ns(client, carol, "shared")
    add_collaborator(marid, root["id"], alice_id)
    create(client, alice, name="zeta")
    create(client, alice, name="alpha", namespace="mine")
    create(client, carol, name="middle", namespace="shared/sub")
    create(client, carol, name="hidden")
    create_ns(client, carol, "open", visibility="public")
    create(client, carol, name="public", namespace="open")

    response = client.get("/api/keys", headers=alice)

    assert names(response) == ["alpha", "middle", "zeta"]
    assert response.headers["x-total-count"] == "3"


def test_empty_list_is_an_empty_array(client: Client, alice: Auth) -> None:
    response = client.get("/api/keys", headers=alice)

    assert response.status_code == 200
    assert response.json() == []


def test_search_matches_names_case_insensitively(client: Client, alice: Auth) -> None:
    for name in ("GitHub", "gitlab", "deploy"):
        create(client, alice, name=name)

    response = client.get("/api/keys", params={"search": "GIT"}, headers=alice)

    assert names(response) == ["GitHub", "gitlab"]


def test_sub_list_holds_only_that_namespaces_keys_and_searches(client: Client, alice: Auth) -> None:
    create(client, alice, name="root1", namespace="proj")
    create(client, alice, name="root2", namespace="proj")
    create(client, alice, name="child", namespace="proj/sub")
    create(client, alice, name="personal")

    everything = client.get("/api/n/alice/proj/-/keys", headers=alice)
    searched = client.get("/api/n/alice/proj/-/keys", params={"search": "2"}, headers=alice)

    assert names(everything) == ["root1", "root2"]
    assert names(searched) == ["root2"]


def test_lists_are_paged_with_link_and_total_headers(client: Client, alice: Auth) -> None:
    for name in ("a1", "a2", "a3"):
        create(client, alice, name=name)

    response = client.get("/api/keys", params={"per_page": 2, "page": 2}, headers=alice)

    assert names(response) == ["a3"]
    assert response.headers["x-total-count"] == "3"
    assert links(response) == {
        "prev": "/api/keys?per_page=2&page=1",
        "next": "/api/keys?per_page=2&page=2",
        "first": "/api/keys?per_page=2&page=1",
        "last": "/api/keys?per_page=2&page=2",
    }


def test_sub_list_is_paged_too(client: Client, alice: Auth) -> None:
    for name in ("a1", "a2", "a3"):
        create(client, alice, name=name, namespace="proj")

    response = client.get("/api/n/alice/proj/-/keys", params={"per_page": 2}, headers=alice)

    assert names(response) == ["a1", "a2"]
    assert response.headers["x-total-count"] == "3"
    assert links(response)["next"] == "/api/n/alice/proj/-/keys?per_page=2&page=2"


# --- update -----------------------------------------------------------------------------------


def test_update_changes_the_config_and_updated_at_only(
    client: Client, marid: Marid, alice: Auth
) -> None:
    body = create(client, alice, config="Host a", namespace="proj")
    sealed = marid.app.live_key(body["id"]).key

    response = client.patch(
        f"/api/keys/{body['id']}",
        json={"config": "Host b", "name": "deploy", "namespace": "proj"},
        headers=alice,
    )

    assert response.status_code == 200
    updated = response.json()
    assert updated["config"] == "Host b"
    assert updated["updated_at"] > body["updated_at"]
    unchanged = {k: v for k, v in updated.items() if k not in ("config", "updated_at")}
    assert unchanged == {k: v for k, v in body.items() if k not in ("config", "updated_at")}
    assert marid.app.live_key(body["id"]).key == sealed
    assert client.get(f"/api/keys/{body['id']}", headers=alice).json() == updated


def test_update_without_config_keeps_it(client: Client, alice: Auth) -> None:
    body = create(client, alice, config="Host a")

    response = client.patch(f"/api/keys/{body['id']}", json={}, headers=alice)

    assert response.status_code == 200
    assert response.json()["config"] == "Host a"


def test_update_with_an_empty_config_keeps_it(client: Client, alice: Auth) -> None:
    """Djinn's client sends unchanged fields empty (CONTRACT.md "Updates")."""
    body = create(client, alice, config="Host a")

    response = client.patch(f"/api/keys/{body['id']}", json={"config": ""}, headers=alice)

    assert response.status_code == 200
    assert response.json()["config"] == "Host a"


def test_update_refuses_another_name_or_namespace(client: Client, alice: Auth) -> None:
    body = create(client, alice, namespace="proj")
    create_ns(client, alice, "other")

    response = client.patch(
        f"/api/keys/{body['id']}",
        json={"config": "x", "name": "renamed", "namespace": "other"},
        headers=alice,
    )

    assert response.status_code == 400
    assert response.json() == {
        "name": ["Name cannot be changed"],
        "namespace": ["Namespace cannot be changed"],
    }
    assert client.get(f"/api/keys/{body['id']}", headers=alice).json()["config"] == ""


def test_private_key_cannot_be_changed_in_an_update(client: Client, alice: Auth) -> None:
    body = create(client, alice)

    response = client.patch(f"/api/keys/{body['id']}", json={"key": ed25519_key()}, headers=alice)

    assert response.status_code == 400
    assert response.json() == {"key": ["Key cannot be changed"]}


def test_collaborator_updates_the_owners_key(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    body = create(client, alice, namespace="proj")
    add_collaborator(marid, root["id"], bob_id)

    response = client.patch(
        f"/api/keys/{body['id']}", json={"config": "x", "namespace": "proj@alice"}, headers=bob
    )

    assert response.status_code == 200
    assert response.json()["config"] == "x"


@pytest.mark.parametrize("visibility", ["public", "internal"])
def test_reader_may_not_update_or_delete_and_gets_404(
    client: Client, alice: Auth, bob: Auth, visibility: str
) -> None:
    create_ns(client, alice, "proj", visibility=visibility)
    body = create(client, alice, namespace="proj", config="Host a")
    url = f"/api/keys/{body['id']}"

    answers = [
        client.patch(url, json={"config": "x"}, headers=bob),
        client.delete(url, headers=bob),
    ]

    for response in answers:
        assert_not_found(response)
    assert client.get(url, headers=alice).json()["config"] == "Host a"


def test_write_refusal_comes_before_field_errors(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj", visibility="public")
    body = create(client, alice, namespace="proj", config="Host a")
    url = f"/api/keys/{body['id']}"

    reader = client.patch(url, json={"name": "other", "config": "x"}, headers=bob)
    writer = client.patch(url, json={"name": "other", "config": "x"}, headers=alice)

    assert_not_found(reader)
    assert writer.status_code == 400
    assert writer.json() == {"name": ["Name cannot be changed"]}
    after = client.get(url, headers=alice).json()
    assert (after["name"], after["config"]) == (body["name"], "Host a")


# --- delete -----------------------------------------------------------------------------------


def test_delete_answers_204_and_the_key_is_gone(client: Client, alice: Auth) -> None:
    body = create(client, alice, namespace="proj")

    response = client.delete(f"/api/keys/{body['id']}", headers=alice)

    assert response.status_code == 204
    assert response.content == b""
    assert_not_found(client.get(f"/api/keys/{body['id']}", headers=alice))
    assert names(client.get("/api/keys", headers=alice)) == []
    assert names(client.get("/api/n/alice/proj/-/keys", headers=alice)) == []


def test_deleting_twice_is_404(client: Client, alice: Auth) -> None:
    body = create(client, alice)
    client.delete(f"/api/keys/{body['id']}", headers=alice)

    response = client.delete(f"/api/keys/{body['id']}", headers=alice)

    assert_not_found(response)


@pytest.mark.parametrize("namespace", [None, "proj"])
def test_delete_frees_the_name(client: Client, alice: Auth, namespace: str | None) -> None:
    body = create(client, alice, namespace=namespace)
    client.delete(f"/api/keys/{body['id']}", headers=alice)

    again = post(client, alice, name="deploy", key=ed25519_key(), namespace=namespace)

    assert again.status_code == 201
    assert again.json()["id"] != body["id"]


def test_collaborator_deletes_the_owners_key(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    body = create(client, alice, namespace="proj")
    add_collaborator(marid, root["id"], bob_id)

    response = client.delete(f"/api/keys/{body['id']}", headers=bob)

    assert response.status_code == 204
    assert names(client.get("/api/keys", headers=alice)) == []


# --- deleting a namespace detaches its keys ---------------------------------------------------


def test_deleting_a_namespace_detaches_its_keys_to_the_owner(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj", visibility="public")
    in_root = create(client, alice, name="inroot", namespace="proj")
    in_child = create(client, alice, name="inchild", namespace="proj/sub")
    add_collaborator(marid, root["id"], bob_id)
    by_bob = create(client, bob, name="bybob", namespace="proj@alice")

    response = client.delete("/api/n/alice/proj", headers=alice)

    assert response.status_code == 204
    listed = client.get("/api/keys", headers=alice).json()
    assert [(k["name"], k["namespace_id"], k["namespace"]) for k in listed] == [
        ("bybob", None, None),
        ("inchild", None, None),
        ("inroot", None, None),
    ]
    for body in (in_root, in_child, by_bob):
        got = client.get(f"/api/keys/{body['id']}", headers=alice)
        assert got.status_code == 200
        assert got.json()["user_id"] == body["user_id"]
    assert_not_found(client.get(f"/api/keys/{by_bob['id']}", headers=bob))


def test_detached_key_is_updated_and_deleted_by_its_owner_alone(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    add_collaborator(marid, root["id"], bob_id)
    body = create(client, alice, namespace="proj")
    client.delete("/api/n/alice/proj", headers=alice)
    url = f"/api/keys/{body['id']}"

    by_bob = client.patch(url, json={"config": "x"}, headers=bob)
    by_alice = client.patch(url, json={"config": "Host a", "namespace": ""}, headers=alice)
    old_namespace = client.patch(url, json={"namespace": "proj"}, headers=alice)
    deleted = client.delete(url, headers=alice)

    assert_not_found(by_bob)
    assert (by_alice.status_code, by_alice.json()["config"]) == (200, "Host a")
    assert old_namespace.json() == {"namespace": ["Namespace cannot be changed"]}
    assert deleted.status_code == 204


def test_recreated_namespace_does_not_inherit_detached_keys(client: Client, alice: Auth) -> None:
    create(client, alice, namespace="proj")
    client.delete("/api/n/alice/proj", headers=alice)

    fresh = create(client, alice, namespace="proj")

    listed = client.get("/api/n/alice/proj/-/keys", headers=alice)
    assert [k["id"] for k in listed.json()] == [fresh["id"]]
