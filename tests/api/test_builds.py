"""Builds over HTTP: submission, access, lists and filters, kill, pin, and the lists of a
namespace's and an object's builds. Sub-resources are in `test_build_parts.py`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from domain.manifest import INVALID_DRIVER, REQUIRED
from infrastructure.bootstrap import Marid
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

JOBS = """driver:
  type: os
sources:
- https://example.com/repo.git
stages:
- test
jobs:
- stage: test
  commands:
  - make
  - make test
  artifacts:
  - bin/app
  - out/report.txt => reports/report.txt
"""


def manifest(namespace: str | None = None, extra: str = "") -> str:
    """A manifest for the `os` driver (the one enabled by default), in `namespace`."""
    head = f"namespace: {namespace}\n" if namespace else ""
    return head + JOBS + extra


def submit(client: Client, auth: Auth, namespace: str | None = None, **body: Any) -> Any:
    body.setdefault("manifest", manifest(namespace))
    return client.post("/api/builds", json=body, headers=auth)


def build(client: Client, auth: Auth, namespace: str | None = None, **body: Any) -> dict[str, Any]:
    response = submit(client, auth, namespace, **body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def numbers(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [b["number"] for b in response.json()]


# --- submission ----------------------------------------------------------------------------


def test_submitted_build_has_the_reference_shape_and_equals_its_get(
    client: Client, alice: Auth
) -> None:
    text = manifest()

    created = build(client, alice, manifest=text, comment="first", tags=["go", "Anon"])

    fetched = client.get("/api/b/alice/1", headers=alice)
    assert fetched.status_code == 200
    assert fetched.json() == created
    url = f"{BASE}/b/alice/1"
    assert created["number"] == 1
    assert created["manifest"] == text
    assert (created["status"], created["output"], created["pinned"]) == ("queued", None, False)
    assert created["tags"] == ["Anon", "go"]
    assert created["namespace_id"] is None
    assert created["namespace"] is None
    assert created["trigger"] == {
        "type": "manual",
        "comment": "first",
        "data": {"email": "alice@example.com", "username": "alice"},
    }
    assert set(created["user"]) == {"id", "username", "email", "created_at"}
    assert created["user"]["username"] == "alice"
    assert created["url"] == url
    for part in ("objects", "variables", "keys", "jobs", "artifacts", "tags"):
        assert created[f"{part}_url"] == f"{url}/{part}"
    assert created["created_at"].endswith("Z")
    assert created["started_at"] is None
    assert created["finished_at"] is None


def test_missing_manifest_is_required(client: Client, alice: Auth) -> None:
    response = client.post("/api/builds", json={"comment": "no manifest"}, headers=alice)

    assert response.status_code == 400
    assert response.json() == {"manifest": [REQUIRED]}


def test_unknown_driver_is_reported_under_manifest(client: Client, alice: Auth) -> None:
    response = submit(client, alice, manifest="driver:\n  type: floppy\n")

    assert response.status_code == 400
    assert INVALID_DRIVER in response.json()["manifest"]


def test_driver_not_enabled_on_this_server_is_a_400(client: Client, alice: Auth) -> None:
    text = "driver:\n  type: docker\n  image: golang\n  workspace: /go\n"

    response = submit(client, alice, manifest=text)

    assert response.status_code == 400
    assert list(response.json()) == ["manifest"]


@pytest.mark.parametrize("text", ["driver: [unclosed", "- just\n- a list\n", "\x01\x02binary"])
def test_manifest_that_is_not_a_yaml_mapping_is_a_400(
    client: Client, alice: Auth, text: str
) -> None:
    response = submit(client, alice, manifest=text)

    assert response.status_code == 400
    assert list(response.json()) == ["manifest"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"manifest": JOBS, "tags": "a,b"}, "tags"),
        ({"manifest": JOBS, "tags": [1, 2]}, "tags"),
        ({"manifest": 7}, "manifest"),
        ({"manifest": 7, "colour": "red"}, "manifest"),
    ],
)
def test_badly_typed_fields_are_400_field_errors_and_unknown_ones_ignored(
    client: Client, alice: Auth, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/builds", json=body, headers=alice)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_unknown_fields_of_a_submit_are_ignored(client: Client, alice: Auth) -> None:
    response = client.post("/api/builds", json={"manifest": JOBS, "colour": "red"}, headers=alice)

    assert response.status_code == 201
    assert "colour" not in response.json()
    assert client.get("/api/b/alice/1", headers=alice).json()["status"] == "queued"


@pytest.mark.parametrize("content", [b"", b"not json", b"[1, 2]"])
def test_undecodable_submit_body_is_a_400_message(
    client: Client, alice: Auth, content: bytes
) -> None:
    headers = {**alice, "Content-Type": "application/json"}

    response = client.post("/api/builds", content=content, headers=headers)

    assert response.status_code == 400
    assert "message" in response.json()


def test_submit_needs_a_token(client: Client) -> None:
    response = client.post("/api/builds", json={"manifest": JOBS})

    assert_unauthorized(response)


def test_submit_needs_build_write_before_the_body_is_read(
    client: Client, users: Users, marid: Marid
) -> None:
    user_id, _ = users.create("carol")
    reader = token(marid, user_id, "build:read")

    response = client.post("/api/builds", content=b"not json", headers=reader)

    assert_lacks_scope(response, "build:write")


def test_build_numbers_count_per_owner(client: Client, alice: Auth, bob: Auth) -> None:
    first, second = build(client, alice), build(client, alice)

    bobs = build(client, bob)

    assert (first["number"], second["number"], bobs["number"]) == (1, 2, 1)
    assert bobs["url"] == f"{BASE}/b/bob/1"


def test_own_missing_namespace_is_created_with_the_build(client: Client, alice: Auth) -> None:
    created = build(client, alice, "proj/sub")

    assert created["namespace"]["path"] == "proj/sub"
    assert client.get("/api/n/alice/proj/sub", headers=alice).status_code == 200


def test_failed_submit_creates_no_namespace(client: Client, alice: Auth) -> None:
    text = manifest("ghost", extra="objects:\n- missing.tar\n")

    response = submit(client, alice, manifest=text)

    assert response.status_code == 400
    assert response.json() == {"manifest": ['Build manifest, object "missing.tar" not found']}
    assert_not_found(client.get("/api/n/alice/ghost", headers=alice))


def test_submit_into_a_foreign_namespace_is_a_422(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj", visibility="public")

    response = submit(client, bob, "proj@alice")

    assert response.status_code == 422
    assert "message" in response.json()


def test_collaborators_build_belongs_to_the_namespace_owner(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    add_collaborator(marid, root["id"], bob_id)

    created = build(client, bob, "proj@alice")

    assert created["url"] == f"{BASE}/b/alice/1"
    assert created["user"]["username"] == "alice"
    assert created["trigger"]["data"] == {"email": "bob@example.com", "username": "bob"}


def test_parallel_submits_get_numbers_without_gaps_or_repeats(client: Client, alice: Auth) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: submit(client, alice), range(50)))

    assert [r.status_code for r in responses] == [201] * 50
    assert sorted(r.json()["number"] for r in responses) == list(range(1, 51))


# --- reading one build -----------------------------------------------------------------------


def test_build_in_a_public_namespace_is_readable_without_a_token(
    client: Client, alice: Auth
) -> None:
    create_ns(client, alice, "open", visibility="public")
    build(client, alice, "open")

    response = client.get("/api/b/alice/1")

    assert response.status_code == 200
    assert response.json()["namespace"]["visibility"] == "public"


def test_build_in_an_internal_namespace_needs_a_signed_in_caller(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "corp", visibility="internal")
    build(client, alice, "corp")

    anonymous = client.get("/api/b/alice/1")
    signed_in = client.get("/api/b/alice/1", headers=bob)

    assert_not_found(anonymous)
    assert signed_in.status_code == 200


def test_private_builds_are_hidden_from_others(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "secret")
    build(client, alice, "secret")
    build(client, alice)

    for number in (1, 2):
        assert_not_found(client.get(f"/api/b/alice/{number}", headers=bob))
        assert_not_found(client.get(f"/api/b/alice/{number}"))


def test_collaborator_reads_builds_of_a_private_tree(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "secret")
    build(client, alice, "secret/sub")
    add_collaborator(marid, root["id"], bob_id)

    response = client.get("/api/b/alice/1", headers=bob)

    assert response.status_code == 200


def test_reading_a_non_public_build_needs_build_read(
    client: Client, users: Users, marid: Marid
) -> None:
    user_id, owner = users.create("alice")
    build(client, owner)
    no_scope = token(marid, user_id, "namespace:read")

    own = client.get("/api/b/alice/1", headers=no_scope)
    missing = client.get("/api/b/alice/99", headers=no_scope)

    assert_lacks_scope(own, "build:read")
    assert_lacks_scope(missing, "build:read")


def test_public_build_needs_no_scope(client: Client, users: Users, marid: Marid) -> None:
    user_id, owner = users.create("alice")
    create_ns(client, owner, "open", visibility="public")
    build(client, owner, "open")

    response = client.get("/api/b/alice/1", headers=token(marid, user_id, "namespace:read"))

    assert response.status_code == 200


def test_unknown_user_or_number_is_404(client: Client, alice: Auth) -> None:
    build(client, alice)

    assert_not_found(client.get("/api/b/nobody/1", headers=alice))
    assert_not_found(client.get("/api/b/alice/2", headers=alice))
    assert_not_found(client.get("/api/b/alice/x", headers=alice))
    assert_not_found(client.get("/api/b/alice/-1", headers=alice))
    assert_not_found(client.get(f"/api/b/alice/{10**30}", headers=alice))
    assert_not_found(client.get(f"/api/b/alice/{10**30}/tags", headers=alice))


# --- lists -----------------------------------------------------------------------------------


def test_list_shows_own_and_collaborating_builds_newest_first(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    carol = users.create("carol")[1]
    root = create_ns(client, alice, "team")
    create_ns(client, carol, "open", visibility="public")
    build(client, alice, "team")
    build(client, bob)
    build(client, carol, "open")
    build(client, alice, "team/sub")
    add_collaborator(marid, root["id"], bob_id)

    response = client.get("/api/builds", headers=bob)

    assert response.status_code == 200
    assert [b["url"] for b in response.json()] == [
        f"{BASE}/b/alice/2",
        f"{BASE}/b/bob/1",
        f"{BASE}/b/alice/1",
    ]
    assert response.headers["x-total-count"] == "3"
    assert 'rel="next"' in response.headers["link"]


def test_list_needs_a_token_and_build_read(client: Client, users: Users, marid: Marid) -> None:
    user_id, _ = users.create("alice")

    anonymous = client.get("/api/builds")
    no_scope = client.get("/api/builds", headers=token(marid, user_id, "namespace:read"))

    assert_unauthorized(anonymous)
    assert_lacks_scope(no_scope, "build:read")


def test_list_filters_by_tag_search_status_and_pinned(client: Client, alice: Auth) -> None:
    build(client, alice, tags=["release/v1", "go"])
    build(client, alice, tags=["golang"])
    build(client, alice)
    assert client.delete("/api/b/alice/3", headers=alice).status_code == 204
    assert client.patch("/api/b/alice/1/pin", headers=alice).status_code == 200

    def listed(**params: str) -> list[int]:
        return numbers(client.get("/api/builds", params=params, headers=alice))

    assert listed(tag="go") == [1]
    assert listed(search="GO") == [2, 1]
    assert listed(search="release/") == [1]
    assert listed(status="killed") == [3]
    assert listed(status="queued") == [2, 1]
    assert listed(status="passed") == []
    assert listed(pinned="true") == [1]
    assert listed(pinned="") == [1]
    assert listed(pinned="false") == [3, 2, 1]


def test_unknown_status_filter_is_a_400(client: Client, alice: Auth) -> None:
    response = client.get("/api/builds", params={"status": "sleeping"}, headers=alice)

    assert response.status_code == 400
    assert list(response.json()) == ["status"]


def test_list_pages(client: Client, alice: Auth) -> None:
    for _ in range(3):
        build(client, alice)

    response = client.get("/api/builds", params={"per_page": "2", "page": "2"}, headers=alice)

    assert numbers(response) == [1]
    assert response.headers["x-total-count"] == "3"


def test_namespace_lists_exactly_its_own_builds(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "open", visibility="public")
    build(client, alice, "open")
    build(client, alice, "open/sub")
    build(client, alice)
    build(client, alice, "open")

    anonymous = client.get("/api/n/alice/open/-/builds")
    child = client.get("/api/n/alice/open/sub/-/builds", headers=bob)

    assert numbers(anonymous) == [4, 1]
    assert anonymous.headers["x-total-count"] == "2"
    assert numbers(child) == [2]


def test_private_namespace_builds_are_hidden(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "secret")
    build(client, alice, "secret")

    assert_not_found(client.get("/api/n/alice/secret/-/builds", headers=bob))
    assert numbers(client.get("/api/n/alice/secret/-/builds", headers=alice)) == [1]


def test_namespace_builds_check_the_status_filter(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj")

    response = client.get("/api/n/alice/proj/-/builds?status=nope", headers=alice)

    assert response.status_code == 400
    assert list(response.json()) == ["status"]


def upload(client: Client, auth: Auth, name: str, **params: str) -> dict[str, Any]:
    headers = {**auth, "Content-Type": "application/octet-stream"}
    response = client.post(
        "/api/objects", params={"name": name, **params}, content=b"payload", headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_object_lists_the_builds_it_was_attached_to(client: Client, alice: Auth) -> None:
    data = upload(client, alice, "data.tar")
    build(client, alice, manifest=manifest(extra="objects:\n- data.tar => /opt/data.tar\n"))
    build(client, alice)
    build(client, alice, manifest=manifest(extra="objects:\n- data.tar\n"))

    response = client.get(f"/api/objects/{data['id']}/builds", headers=alice)

    assert numbers(response) == [3, 1]
    assert response.headers["x-total-count"] == "2"


def test_object_builds_need_object_read_and_build_read(
    client: Client, users: Users, marid: Marid
) -> None:
    user_id, owner = users.create("alice")
    data = upload(client, owner, "data.tar")
    url = f"/api/objects/{data['id']}/builds"

    no_build = client.get(url, headers=token(marid, user_id, "object:read"))
    no_object = client.get(url, headers=token(marid, user_id, "build:read"))

    assert_lacks_scope(no_build, "build:read")
    assert_lacks_scope(no_object, "object:read")


def test_object_builds_are_hidden_with_the_object(client: Client, alice: Auth, bob: Auth) -> None:
    data = upload(client, alice, "data.tar")

    assert_not_found(client.get(f"/api/objects/{data['id']}/builds", headers=bob))
    assert_not_found(client.get("/api/objects/999/builds", headers=alice))


# --- kill and pin ------------------------------------------------------------------------------


def test_killing_a_queued_build_kills_it_and_its_jobs(client: Client, alice: Auth) -> None:
    build(client, alice)

    response = client.delete("/api/b/alice/1", headers=alice)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/b/alice/1", headers=alice).json()["status"] == "killed"
    jobs = client.get("/api/b/alice/1/jobs", headers=alice).json()
    assert {j["status"] for j in jobs} == {"killed"}


def test_killing_a_finished_build_changes_nothing(client: Client, alice: Auth) -> None:
    build(client, alice)
    client.delete("/api/b/alice/1", headers=alice)

    again = client.delete("/api/b/alice/1", headers=alice)

    assert again.status_code == 204
    assert client.get("/api/b/alice/1", headers=alice).json()["status"] == "killed"


def test_pin_and_unpin_answer_with_the_build(client: Client, alice: Auth) -> None:
    build(client, alice, tags=["keep"])

    pinned = client.patch("/api/b/alice/1/pin", headers=alice)
    unpinned = client.patch("/api/b/alice/1/unpin", headers=alice)

    assert pinned.status_code == 200
    assert pinned.json()["pinned"] is True
    assert pinned.json()["tags"] == ["keep"]
    assert unpinned.status_code == 200
    assert unpinned.json()["pinned"] is False
    assert unpinned.json() == client.get("/api/b/alice/1", headers=alice).json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", ""), ("PATCH", "/pin"), ("PATCH", "/unpin")],
)
def test_reader_of_a_public_build_may_not_change_it(
    client: Client, alice: Auth, bob: Auth, method: str, path: str
) -> None:
    create_ns(client, alice, "open", visibility="public")
    build(client, alice, "open")
    before = client.get("/api/b/alice/1").json()

    response = client.request(method, f"/api/b/alice/1{path}", headers=bob)

    assert_not_found(response)
    after = client.get("/api/b/alice/1").json()
    assert after == before
    assert (after["status"], after["pinned"]) == ("queued", False)


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", ""), ("PATCH", "/pin"), ("PATCH", "/unpin")],
)
def test_changing_an_invisible_build_is_404(
    client: Client, alice: Auth, bob: Auth, method: str, path: str
) -> None:
    build(client, alice)

    response = client.request(method, f"/api/b/alice/1{path}", headers=bob)

    assert_not_found(response)


def test_collaborator_kills_and_pins_builds_of_the_tree(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "team")
    build(client, alice, "team")
    add_collaborator(marid, root["id"], bob_id)

    pinned = client.patch("/api/b/alice/1/pin", headers=bob)
    killed = client.delete("/api/b/alice/1", headers=bob)

    assert pinned.status_code == 200
    assert killed.status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [("DELETE", "", "build:delete"), ("PATCH", "/pin", "build:write")],
)
def test_kill_and_pin_check_token_then_scope(
    client: Client, users: Users, marid: Marid, method: str, path: str, scope: str
) -> None:
    user_id, owner = users.create("alice")
    build(client, owner)
    reader = token(marid, user_id, "build:read")

    anonymous = client.request(method, f"/api/b/alice/1{path}")
    no_scope = client.request(method, f"/api/b/alice/99{path}", headers=reader)

    assert_unauthorized(anonymous)
    assert_lacks_scope(no_scope, scope)


def test_kill_with_a_non_object_body_is_a_400(client: Client, alice: Auth) -> None:
    build(client, alice)

    response = client.request("DELETE", "/api/b/alice/1", json=[1], headers=alice)

    assert response.status_code == 400
    assert "message" in response.json()
    assert client.get("/api/b/alice/1", headers=alice).json()["status"] == "queued"


def test_kill_ignores_the_fields_of_an_object_body(client: Client, alice: Auth) -> None:
    build(client, alice)

    response = client.request("DELETE", "/api/b/alice/1", json={"force": True}, headers=alice)

    assert response.status_code == 204
    assert client.get("/api/b/alice/1", headers=alice).json()["status"] == "killed"


def test_namespace_shows_its_latest_build(client: Client, alice: Auth) -> None:
    build(client, alice, namespace="proj")
    latest = build(client, alice, namespace="proj", comment="second")

    body = client.get("/api/n/alice/proj", headers=alice).json()

    assert body["build"]["number"] == latest["number"]
    assert body["build"]["namespace"] is None
    assert body["build"]["trigger"]["comment"] == "second"


def test_namespace_without_builds_shows_no_build(client: Client, alice: Auth) -> None:
    client.post("/api/namespaces", json={"name": "empty"}, headers=alice)

    assert client.get("/api/n/alice/empty", headers=alice).json()["build"] is None
