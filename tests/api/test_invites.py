"""Invites and collaborators over HTTP: every route, its errors, and what collaborators may do."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.bootstrap import Marid
from tests.api.test_builds import build, manifest
from tests.api.test_images import IMAGE, QEMU_DISK
from tests.conftest import Users
from tests.helpers import (
    BASE,
    Auth,
    Client,
    add_collaborator,
    assert_lacks_scope,
    assert_not_found,
    assert_unauthorized,
    create_ns,
    token,
)
from tests.unit.test_keys import ed25519_key

INVITES = "/api/n/alice/proj/-/invites"


@pytest.fixture
def people(users: Users) -> dict[str, tuple[int, Auth]]:
    return {name: users.create(name) for name in ("alice", "bob", "carol")}


@pytest.fixture
def alice(people: dict[str, tuple[int, Auth]]) -> Auth:
    return people["alice"][1]


@pytest.fixture
def bob(people: dict[str, tuple[int, Auth]]) -> Auth:
    return people["bob"][1]


@pytest.fixture
def carol(people: dict[str, tuple[int, Auth]]) -> Auth:
    return people["carol"][1]


def send(client: Client, auth: Auth, handle: Any, path: str = "proj") -> Any:
    return client.post(f"/api/n/alice/{path}/-/invites", json={"handle": handle}, headers=auth)


def sent(client: Client, auth: Auth, handle: str, path: str = "proj") -> dict[str, Any]:
    response = send(client, auth, handle, path)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def join(client: Client, alice: Auth, invitee: Auth, handle: str, path: str = "proj") -> None:
    """alice invites, the invitee accepts."""
    invite = sent(client, alice, handle, path)
    response = client.patch(f"/api/invites/{invite['id']}", headers=invitee)
    assert response.status_code == 200, response.text


def message(response: Any) -> str:
    assert response.status_code == 400, response.text
    text: str = response.json()["message"]
    return text


def handles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [c["username"] for c in response.json()]


# --- sending -----------------------------------------------------------------------------


def test_invite_has_the_reference_shape(
    client: Client, people: dict[str, tuple[int, Auth]], alice: Auth
) -> None:
    ns = create_ns(client, alice, "proj")

    response = send(client, alice, "bob")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "namespace_id",
        "invitee_id",
        "inviter_id",
        "url",
        "invitee",
        "inviter",
        "namespace",
    }
    assert body["url"] == f"{BASE}/invites/{body['id']}"
    assert (body["namespace_id"], body["invitee_id"], body["inviter_id"]) == (
        ns["id"],
        people["bob"][0],
        people["alice"][0],
    )
    assert body["invitee"]["username"] == "bob"
    assert body["inviter"]["username"] == "alice"
    assert body["namespace"]["url"] == f"{BASE}/n/alice/proj"


def test_invitee_is_found_by_email(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj")

    body = sent(client, alice, "Bob@Example.com")

    assert body["invitee"]["username"] == "bob"


@pytest.mark.parametrize("body", [{}, {"handle": ""}, {"handle": None}, {"handle": "  "}])
def test_missing_handle_is_a_field_error(client: Client, alice: Auth, body: Any) -> None:
    create_ns(client, alice, "proj")

    response = client.post(INVITES, json=body, headers=alice)

    assert response.status_code == 400
    assert response.json() == {"handle": ["Username or email field required"]}


@pytest.mark.usefixtures("bob")
def test_badly_typed_fields_are_field_errors_and_unknown_ones_ignored(
    client: Client, alice: Auth
) -> None:
    create_ns(client, alice, "proj")

    typed = client.post(INVITES, json={"handle": 5, "role": "admin"}, headers=alice)
    unknown = client.post(INVITES, json={"handle": "bob", "role": "admin"}, headers=alice)

    assert typed.status_code == 400
    assert typed.json() == {"handle": ["Username or email must be a string"]}
    assert unknown.status_code == 201, unknown.text
    assert "role" not in unknown.json()


@pytest.mark.parametrize(
    ("handle", "expected"),
    [("nobody", "No such user"), ("alice", "Cannot invite self"), ("ALICE", "Cannot invite self")],
)
def test_business_rules_are_400_messages(
    client: Client, alice: Auth, handle: str, expected: str
) -> None:
    create_ns(client, alice, "proj")

    response = send(client, alice, handle)

    assert message(response) == expected


def test_second_invite_to_the_same_namespace_is_refused(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj")
    sent(client, alice, "bob")

    response = send(client, alice, "bob@example.com")

    assert message(response) == "Invite already sent"


def test_pending_invite_to_another_namespace_does_not_count(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj")
    create_ns(client, alice, "other")
    sent(client, alice, "bob", "other")

    response = send(client, alice, "bob")

    assert response.status_code == 201


def test_collaborator_of_the_tree_is_refused_even_from_a_child(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    join(client, alice, bob, "bob")

    response = send(client, alice, "bob", "proj/sub")

    assert message(response) == "Already a collaborator"


def test_collaborator_of_another_tree_can_be_invited(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "other")
    create_ns(client, alice, "proj")
    join(client, alice, bob, "bob", "other")

    response = send(client, alice, "bob")

    assert response.status_code == 201


@pytest.mark.parametrize("visibility", ["private", "internal", "public"])
def test_collaborator_cannot_invite(
    client: Client,
    people: dict[str, tuple[int, Auth]],
    marid: Marid,
    alice: Auth,
    bob: Auth,
    visibility: str,
) -> None:
    ns = create_ns(client, alice, "proj", visibility=visibility)
    add_collaborator(marid, ns["id"], people["bob"][0])

    response = send(client, bob, "carol")

    assert response.status_code == 422
    assert set(response.json()) == {"message"}
    assert client.get(INVITES, headers=alice).json() == []


@pytest.mark.parametrize("visibility", ["internal", "public"])
def test_reader_cannot_invite(client: Client, alice: Auth, bob: Auth, visibility: str) -> None:
    create_ns(client, alice, "proj", visibility=visibility)

    response = send(client, bob, "carol")

    assert response.status_code == 422
    assert client.get(INVITES, headers=alice).json() == []


def test_user_who_cannot_see_the_namespace_gets_404(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj")

    hidden = send(client, bob, "carol")
    missing = send(client, alice, "bob", "nope")

    assert_not_found(hidden)
    assert_not_found(missing)


def test_404_comes_before_a_bad_body(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj")

    response = client.post(INVITES, json={"handle": 5}, headers=bob)

    assert_not_found(response)


def test_collaborators_bad_body_is_400_before_422(
    client: Client, people: dict[str, tuple[int, Auth]], marid: Marid, alice: Auth, bob: Auth
) -> None:
    ns = create_ns(client, alice, "proj")
    add_collaborator(marid, ns["id"], people["bob"][0])

    response = client.post(INVITES, json={}, headers=bob)

    assert response.status_code == 400


# --- listing -----------------------------------------------------------------------------


def test_invitee_lists_the_invites_received(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    first = sent(client, alice, "bob")
    second = sent(client, alice, "bob", "proj/sub")
    sent(client, alice, "carol")

    response = client.get("/api/invites", headers=bob)

    assert response.status_code == 200
    assert response.json() == [first, second]
    assert response.json()[1]["namespace"]["path"] == "proj/sub"


def test_inviter_receives_nothing(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj")
    sent(client, alice, "bob")

    response = client.get("/api/invites", headers=alice)

    assert response.json() == []


def test_owner_lists_the_namespaces_pending_invites_without_namespace(
    client: Client, alice: Auth
) -> None:
    create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    bobs = sent(client, alice, "bob")
    sent(client, alice, "carol", "proj/sub")

    response = client.get(INVITES, headers=alice)

    assert response.status_code == 200
    assert response.json() == [{**bobs, "namespace": None}]


@pytest.mark.parametrize("visibility", ["private", "public"])
def test_only_the_owner_lists_a_namespaces_invites(
    client: Client,
    people: dict[str, tuple[int, Auth]],
    marid: Marid,
    alice: Auth,
    bob: Auth,
    carol: Auth,
    visibility: str,
) -> None:
    ns = create_ns(client, alice, "proj", visibility=visibility)
    add_collaborator(marid, ns["id"], people["bob"][0])
    sent(client, alice, "carol")

    answers = [client.get(INVITES, headers=h) for h in (bob, carol)]

    for response in answers:
        assert_not_found(response)


# --- accepting ---------------------------------------------------------------------------


def test_accepting_an_invite_to_a_child_joins_the_whole_tree(
    client: Client, alice: Auth, bob: Auth
) -> None:
    root = create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    create_ns(client, alice, "deep", parent="proj/sub")
    invite = sent(client, alice, "bob", "proj/sub")

    response = client.patch(f"/api/invites/{invite['id']}", headers=bob)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"namespace", "invitee", "inviter"}
    assert body["namespace"] == root
    assert (body["invitee"], body["inviter"]) == (invite["invitee"], invite["inviter"])
    assert handles(client.get("/api/n/alice/proj/-/collaborators", headers=alice)) == ["bob"]
    assert client.get("/api/n/alice/proj/sub/deep", headers=bob).status_code == 200
    assert client.get("/api/invites", headers=bob).json() == []
    assert client.get("/api/n/alice/proj/sub/-/invites", headers=alice).json() == []


def test_accepted_collaborator_sees_the_tree_in_their_list(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "proj")
    join(client, alice, bob, "bob")

    response = client.get("/api/namespaces", headers=bob)

    assert [ns["path"] for ns in response.json()] == ["proj"]


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_only_the_invitee_accepts(client: Client, alice: Auth, carol: Auth, who: str) -> None:
    create_ns(client, alice, "proj")
    invite = sent(client, alice, "bob")

    response = client.patch(
        f"/api/invites/{invite['id']}", headers={"alice": alice, "carol": carol}[who]
    )

    assert_not_found(response)
    assert client.get("/api/n/alice/proj/-/collaborators", headers=alice).json() == []


def test_accepting_twice_or_a_missing_invite_is_404(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj")
    invite = sent(client, alice, "bob")
    client.patch(f"/api/invites/{invite['id']}", headers=bob)

    again = client.patch(f"/api/invites/{invite['id']}", headers=bob)
    missing = client.patch("/api/invites/999999", headers=bob)

    assert_not_found(again)
    assert_not_found(missing)


def test_deleting_the_namespace_deletes_its_pending_invites(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    invite = sent(client, alice, "bob", "proj/sub")
    kept = sent(client, alice, "bob")

    deleted = client.delete("/api/n/alice/proj/sub", headers=alice)

    assert deleted.status_code == 204
    assert client.get("/api/invites", headers=bob).json() == [kept]
    assert_not_found(client.patch(f"/api/invites/{invite['id']}", headers=bob))


# --- rejecting and cancelling ------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_invitee_rejects_and_inviter_cancels(
    client: Client, alice: Auth, bob: Auth, who: str
) -> None:
    create_ns(client, alice, "proj")
    invite = sent(client, alice, "bob")

    response = client.delete(
        f"/api/invites/{invite['id']}", headers={"alice": alice, "bob": bob}[who]
    )

    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/invites", headers=bob).json() == []
    assert client.get(INVITES, headers=alice).json() == []
    assert send(client, alice, "bob").status_code == 201


def test_nobody_else_rejects_an_invite(client: Client, alice: Auth, bob: Auth, carol: Auth) -> None:
    create_ns(client, alice, "proj")
    invite = sent(client, alice, "bob")

    response = client.delete(f"/api/invites/{invite['id']}", headers=carol)

    assert_not_found(response)
    assert len(client.get("/api/invites", headers=bob).json()) == 1


def test_rejected_invite_cannot_be_accepted(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj")
    invite = sent(client, alice, "bob")
    client.delete(f"/api/invites/{invite['id']}", headers=bob)

    response = client.patch(f"/api/invites/{invite['id']}", headers=bob)

    assert_not_found(response)


# --- removing collaborators --------------------------------------------------------------


@pytest.mark.parametrize("handle", ["bob", "bob@example.com"])
def test_owner_removes_a_collaborator(client: Client, alice: Auth, bob: Auth, handle: str) -> None:
    create_ns(client, alice, "proj")
    join(client, alice, bob, "bob")

    response = client.delete(f"/api/n/alice/proj/-/collaborators/{handle}", headers=alice)

    assert response.status_code == 204
    assert client.get("/api/n/alice/proj/-/collaborators", headers=alice).json() == []


def test_removal_takes_effect_on_the_next_request(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    join(client, alice, bob, "bob")
    assert client.get("/api/n/alice/proj/sub", headers=bob).status_code == 200

    client.delete("/api/n/alice/proj/-/collaborators/bob", headers=alice)

    assert_not_found(client.get("/api/n/alice/proj/sub", headers=bob))
    refused = client.post(
        "/api/variables", json={"key": "K", "value": "v", "namespace": "proj@alice"}, headers=bob
    )
    assert refused.status_code == 422
    assert client.get("/api/namespaces", headers=bob).json() == []


def test_owner_removes_a_collaborator_through_a_child_path(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    join(client, alice, bob, "bob")

    response = client.delete("/api/n/alice/proj/sub/-/collaborators/bob", headers=alice)

    assert response.status_code == 204
    assert client.get("/api/n/alice/proj/-/collaborators", headers=alice).json() == []


@pytest.mark.parametrize("handle", ["carol", "nobody", "alice"])
def test_removing_a_non_collaborator_is_refused(
    client: Client, alice: Auth, bob: Auth, handle: str
) -> None:
    create_ns(client, alice, "proj")
    join(client, alice, bob, "bob")

    response = client.delete(f"/api/n/alice/proj/-/collaborators/{handle}", headers=alice)

    assert message(response) == "No such collaborator"
    assert handles(client.get("/api/n/alice/proj/-/collaborators", headers=alice)) == ["bob"]


def test_collaborator_cannot_remove_collaborators(
    client: Client, alice: Auth, bob: Auth, carol: Auth
) -> None:
    create_ns(client, alice, "proj")
    join(client, alice, bob, "bob")
    join(client, alice, carol, "carol")

    response = client.delete("/api/n/alice/proj/-/collaborators/carol", headers=bob)

    assert_not_found(response)
    assert handles(client.get("/api/n/alice/proj/-/collaborators", headers=alice)) == [
        "bob",
        "carol",
    ]


def test_stranger_removing_collaborators_gets_404(
    client: Client, alice: Auth, bob: Auth, carol: Auth
) -> None:
    create_ns(client, alice, "proj")
    join(client, alice, bob, "bob")

    response = client.delete("/api/n/alice/proj/-/collaborators/bob", headers=carol)

    assert_not_found(response)


def test_deleting_the_tree_removes_its_collaborators(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "proj")
    join(client, alice, bob, "bob")

    client.delete("/api/n/alice/proj", headers=alice)

    create_ns(client, alice, "proj")
    assert client.get("/api/n/alice/proj/-/collaborators", headers=alice).json() == []
    assert_not_found(client.get("/api/n/alice/proj", headers=bob))


# --- what collaborators may and may not do -----------------------------------------------


@pytest.fixture
def tree(client: Client, alice: Auth, bob: Auth) -> None:
    """alice's private tree proj/sub, with bob a collaborator through an accepted invite."""
    create_ns(client, alice, "proj")
    create_ns(client, alice, "sub", parent="proj")
    join(client, alice, bob, "bob", "proj/sub")


@pytest.mark.usefixtures("tree")
def test_collaborator_reads_the_whole_tree(client: Client, alice: Auth, bob: Auth) -> None:
    client.post(
        "/api/variables", json={"key": "K", "value": "v", "namespace": "proj/sub"}, headers=alice
    )
    build(client, alice, "proj/sub")

    answers = [
        client.get(f"/api/n/alice/{sub}", headers=bob).status_code
        for sub in (
            "proj",
            "proj/sub",
            "proj/-/namespaces",
            "proj/sub/-/variables",
            "proj/sub/-/keys",
            "proj/sub/-/objects",
            "proj/sub/-/images",
            "proj/sub/-/builds",
        )
    ]

    assert answers == [200] * 8
    assert len(client.get("/api/n/alice/proj/sub/-/variables", headers=bob).json()) == 1
    assert client.get("/api/b/alice/1", headers=bob).status_code == 200


@pytest.mark.usefixtures("tree")
def test_collaborator_creates_every_kind_of_resource_in_the_tree(client: Client, bob: Auth) -> None:
    where = "proj/sub@alice"

    variable = client.post(
        "/api/variables", json={"key": "K", "value": "v", "namespace": where}, headers=bob
    )
    key = client.post(
        "/api/keys", json={"name": "deploy", "key": ed25519_key(), "namespace": where}, headers=bob
    )
    obj = client.post(
        "/api/objects",
        params={"name": "data.bin", "namespace": where},
        content=b"data",
        headers={**bob, "Content-Type": "application/octet-stream"},
    )
    image = client.post(
        "/api/images",
        params={"name": "disk", "namespace": where},
        content=IMAGE,
        headers={**bob, "Content-Type": QEMU_DISK},
    )
    submitted = client.post("/api/builds", json={"manifest": manifest(where)}, headers=bob)

    for response in (variable, key, obj, image, submitted):
        assert response.status_code == 201, response.text
        assert response.json()["user"]["username"] == "alice"


@pytest.mark.usefixtures("tree")
def test_collaborator_tags_pins_and_kills_the_trees_builds(
    client: Client, alice: Auth, bob: Auth
) -> None:
    build(client, alice, "proj/sub")

    tagged = client.post("/api/b/alice/1/tags", json=["shared"], headers=bob)
    pinned = client.patch("/api/b/alice/1/pin", headers=bob)
    killed = client.delete("/api/b/alice/1", headers=bob)

    assert tagged.status_code == 201, tagged.text
    assert pinned.status_code == 200
    assert killed.status_code == 204
    assert client.get("/api/b/alice/1", headers=alice).json()["status"] == "killed"


@pytest.mark.usefixtures("tree")
def test_collaborator_cannot_manage_the_namespace(client: Client, alice: Auth, bob: Auth) -> None:
    answers = [
        client.patch("/api/n/alice/proj", json={"visibility": "public"}, headers=bob),
        client.delete("/api/n/alice/proj/sub", headers=bob),
        send(client, bob, "carol"),
        client.delete("/api/n/alice/proj/-/collaborators/bob", headers=bob),
    ]

    # 404 for the owner-only actions; 422 only for submitting data (an invite) into it
    assert [r.status_code for r in answers] == [404, 404, 422, 404]
    for refused in (answers[0], answers[1], answers[3]):
        assert_not_found(refused)
    assert_not_found(client.get(INVITES, headers=bob))
    assert_not_found(client.get("/api/n/alice/proj/-/collaborators", headers=bob))
    assert client.get("/api/n/alice/proj/sub", headers=alice).json()["visibility"] == "private"


# --- authentication and scopes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/invites"),
        ("POST", INVITES),
        ("PATCH", "/api/invites/1"),
        ("DELETE", "/api/invites/1"),
        ("DELETE", "/api/n/alice/proj/-/collaborators/bob"),
    ],
)
def test_invite_routes_need_a_token(client: Client, alice: Auth, method: str, url: str) -> None:
    create_ns(client, alice, "proj", visibility="public")

    response = client.request(method, url)

    assert_unauthorized(response)


def test_anonymous_namespace_invite_list_is_404_like_any_non_owner(
    client: Client, alice: Auth
) -> None:
    create_ns(client, alice, "proj", visibility="public")

    response = client.get(INVITES)

    assert_not_found(response)


@pytest.mark.parametrize(
    ("method", "url", "scope", "granted"),
    [
        ("GET", "/api/invites", "invite:read", "invite:write,delete"),
        ("POST", INVITES, "invite:write", "invite:read,delete namespace:read"),
        ("GET", INVITES, "invite:read", "invite:write,delete namespace:read"),
        ("PATCH", "/api/invites/1", "invite:write", "invite:read,delete"),
        ("DELETE", "/api/invites/1", "invite:delete", "invite:read,write"),
        (
            "DELETE",
            "/api/n/alice/proj/-/collaborators/bob",
            "namespace:delete",
            "namespace:read,write",
        ),
    ],
)
def test_token_without_the_routes_scope_is_403(
    client: Client,
    people: dict[str, tuple[int, Auth]],
    marid: Marid,
    alice: Auth,
    method: str,
    url: str,
    scope: str,
    granted: str,
) -> None:
    create_ns(client, alice, "proj")
    limited = token(marid, people["alice"][0], granted)

    response = client.request(method, url, headers=limited)

    assert_lacks_scope(response, scope)
