"""A build's sub-resources over HTTP (jobs, artifacts, tags, variables, keys, objects) and
the namespace badge.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from infrastructure.bootstrap import Marid
from tests.api.test_builds import build, manifest, upload
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
    names,
    token,
)
from tests.unit.test_keys import ed25519_key

SVG = "{http://www.w3.org/2000/svg}"
SECRET = "s3cr3t-hunter2-value"


# --- jobs ------------------------------------------------------------------------------------


def test_jobs_start_with_the_setup_stage_in_plan_order(client: Client, alice: Auth) -> None:
    created = build(client, alice)

    response = client.get("/api/b/alice/1/jobs", headers=alice)

    assert names(response) == ["create-driver", "clone.0", "test.1"]
    jobs = response.json()
    assert [j["stage"] for j in jobs] == ["setup - #1", "setup - #1", "test"]
    assert jobs[2]["commands"] == "make\nmake test"
    assert jobs[0]["commands"] == ""
    assert all(isinstance(j["id"], int) for j in jobs)
    assert len({j["id"] for j in jobs}) == 3
    assert jobs[2]["url"] == f"{BASE}/b/alice/1/jobs/test.1"
    assert jobs[2]["build"] == created
    assert (jobs[2]["status"], jobs[2]["output"], jobs[2]["started_at"]) == ("queued", None, None)


def test_jobs_filter_by_name_and_status(client: Client, alice: Auth) -> None:
    build(client, alice)

    by_name = client.get("/api/b/alice/1/jobs", params={"name": "CLONE"}, headers=alice)
    by_status = client.get("/api/b/alice/1/jobs", params={"status": "killed"}, headers=alice)
    bad = client.get("/api/b/alice/1/jobs", params={"status": "sleeping"}, headers=alice)

    assert names(by_name) == ["clone.0"]
    assert names(by_status) == []
    assert bad.status_code == 400
    assert list(bad.json()) == ["status"]


def test_job_by_name(client: Client, alice: Auth) -> None:
    build(client, alice)

    found = client.get("/api/b/alice/1/jobs/create-driver", headers=alice)
    missing = client.get("/api/b/alice/1/jobs/nope", headers=alice)

    assert found.status_code == 200
    assert found.json()["name"] == "create-driver"
    assert_not_found(missing)


def test_named_items_need_build_read_even_in_a_public_namespace(
    client: Client, users: Users, marid: Marid
) -> None:
    user_id, owner = users.create("alice")
    create_ns(client, owner, "open", visibility="public")
    build(client, owner, "open", tags=["go"])
    no_scope = token(marid, user_id, "namespace:read")

    for path in ("jobs/create-driver", "artifacts/app", "tags/go"):
        assert_lacks_scope(client.get(f"/api/b/alice/1/{path}", headers=no_scope), "build:read")
        assert client.get(f"/api/b/alice/1/{path}").status_code == 200
    assert client.get("/api/b/alice/1/jobs", headers=no_scope).status_code == 200


@pytest.mark.parametrize(
    "part", ["jobs", "artifacts", "tags", "variables", "keys", "objects", "jobs/create-driver"]
)
def test_parts_of_a_private_build_are_hidden(
    client: Client, alice: Auth, bob: Auth, part: str
) -> None:
    build(client, alice)

    assert_not_found(client.get(f"/api/b/alice/1/{part}", headers=bob))
    assert_not_found(client.get(f"/api/b/alice/1/{part}"))
    assert_not_found(client.get(f"/api/b/alice/2/{part}", headers=alice))


@pytest.mark.parametrize("part", ["jobs", "artifacts", "tags", "variables", "keys", "objects"])
def test_parts_of_a_public_build_need_no_token(client: Client, alice: Auth, part: str) -> None:
    create_ns(client, alice, "open", visibility="public")
    build(client, alice, "open")

    response = client.get(f"/api/b/alice/1/{part}")

    assert response.status_code == 200
    assert isinstance(response.json(), list)


# --- artifacts -----------------------------------------------------------------------------


def test_artifacts_are_placeholders_until_collected(client: Client, alice: Auth) -> None:
    created = build(client, alice)
    jobs = client.get("/api/b/alice/1/jobs", headers=alice).json()

    response = client.get("/api/b/alice/1/artifacts", headers=alice)

    assert names(response) == ["app", "reports/report.txt"]
    app = response.json()[0]
    assert (app["source"], app["job_id"], app["build_id"]) == ("bin/app", jobs[2]["id"], 1)
    assert (app["size"], app["md5"], app["sha256"], app["deleted_at"]) == (None,) * 4
    assert isinstance(app["id"], int)
    assert app["url"] == f"{BASE}/b/alice/1/artifacts/app"
    assert app["build"] == created
    assert response.headers["x-total-count"] == "2"


def test_artifacts_search_and_page(client: Client, alice: Auth) -> None:
    build(client, alice)

    searched = client.get("/api/b/alice/1/artifacts", params={"search": "REPORT"}, headers=alice)
    paged = client.get("/api/b/alice/1/artifacts", params={"per_page": "1"}, headers=alice)

    assert names(searched) == ["reports/report.txt"]
    assert names(paged) == ["app"]
    assert paged.headers["x-total-count"] == "2"


def test_artifact_by_name_is_json_and_its_file_is_not_there_yet(
    client: Client, alice: Auth
) -> None:
    build(client, alice)
    url = "/api/b/alice/1/artifacts/reports/report.txt"

    found = client.get(url, headers=alice)
    download = client.get(url, headers={**alice, "Accept": "application/octet-stream"})

    assert found.status_code == 200
    assert found.json()["source"] == "out/report.txt"
    assert_not_found(download)
    assert_not_found(client.get("/api/b/alice/1/artifacts/nope", headers=alice))


# --- tags ------------------------------------------------------------------------------------


def test_submitted_tags_are_valid_unique_and_sorted(client: Client, alice: Auth) -> None:
    created = build(client, alice, tags=["b", "a", "a", "not valid", "release/v1.0"])

    response = client.get("/api/b/alice/1/tags", headers=alice)

    assert created["tags"] == ["a", "b", "release/v1.0"]
    assert names(response) == ["a", "b", "release/v1.0"]


def test_tagging_answers_with_the_new_tags_only(client: Client, users: Users) -> None:
    alice_id, alice = users.create("alice")
    build(client, alice, tags=["old"])

    response = client.post(
        "/api/b/alice/1/tags", json=["new", "old", "new", "x y", "ci/nightly"], headers=alice
    )

    assert response.status_code == 201
    tags = response.json()
    assert [t["name"] for t in tags] == ["ci/nightly", "new"]
    tag = tags[1]
    assert isinstance(tag["id"], int)
    assert (tag["user_id"], tag["build_id"]) == (alice_id, 1)
    assert tag["user"]["username"] == "alice"
    assert tag["url"] == f"{BASE}/b/alice/1/tags/new"
    assert tag["created_at"].endswith("Z")
    assert tag["build"]["tags"] == ["ci/nightly", "new", "old"]
    assert client.get("/api/b/alice/1", headers=alice).json()["tags"] == [
        "ci/nightly",
        "new",
        "old",
    ]


def test_tagging_with_nothing_new_is_an_empty_201(client: Client, alice: Auth) -> None:
    build(client, alice, tags=["old"])

    response = client.post("/api/b/alice/1/tags", json=["old"], headers=alice)

    assert response.status_code == 201
    assert response.json() == []


@pytest.mark.parametrize(
    "content", [b"", b"not json", b'{"tags": ["a"]}', b'"a"', b"[1, 2]", b"[" * 5000]
)
def test_tag_body_must_be_an_array_of_strings(client: Client, alice: Auth, content: bytes) -> None:
    build(client, alice)
    headers = {**alice, "Content-Type": "application/json"}

    response = client.post("/api/b/alice/1/tags", content=content, headers=headers)

    assert response.status_code == 400
    assert list(response.json()) == ["message"]


def test_tagging_checks_token_scope_and_visibility_before_the_body(
    client: Client, users: Users, marid: Marid
) -> None:
    alice_id, alice = users.create("alice")
    bob = users.create("bob")[1]
    build(client, alice)
    reader = token(marid, alice_id, "build:read")

    anonymous = client.post("/api/b/alice/1/tags", content=b"junk")
    no_scope = client.post("/api/b/alice/1/tags", content=b"junk", headers=reader)
    invisible = client.post("/api/b/alice/1/tags", content=b"junk", headers=bob)

    assert_unauthorized(anonymous)
    assert_lacks_scope(no_scope, "build:write")
    assert_not_found(invisible)


def test_reader_of_a_public_build_may_not_tag_or_untag_it(
    client: Client, alice: Auth, bob: Auth
) -> None:
    create_ns(client, alice, "open", visibility="public")
    build(client, alice, "open", tags=["keep"])

    tagged = client.post("/api/b/alice/1/tags", json=["mine"], headers=bob)
    untagged = client.delete("/api/b/alice/1/tags/keep", headers=bob)

    assert_not_found(tagged)
    assert_not_found(untagged)
    assert client.get("/api/b/alice/1").json()["tags"] == ["keep"]


def test_collaborator_tags_builds_of_the_tree(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "team")
    build(client, alice, "team")
    add_collaborator(marid, root["id"], bob_id)

    response = client.post("/api/b/alice/1/tags", json=["bobs"], headers=bob)

    assert response.status_code == 201
    assert response.json()[0]["user_id"] == bob_id


def test_tag_with_a_slash_is_read_and_deleted_by_name(client: Client, alice: Auth) -> None:
    build(client, alice, tags=["release/v1", "keep"])

    found = client.get("/api/b/alice/1/tags/release/v1", headers=alice)
    deleted = client.delete("/api/b/alice/1/tags/release/v1", headers=alice)

    assert found.status_code == 200
    assert found.json()["name"] == "release/v1"
    assert found.json()["url"] == f"{BASE}/b/alice/1/tags/release/v1"
    assert deleted.status_code == 204
    assert_not_found(client.get("/api/b/alice/1/tags/release/v1", headers=alice))
    assert client.get("/api/b/alice/1", headers=alice).json()["tags"] == ["keep"]


def test_deleting_a_missing_tag_is_404(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "open", visibility="public")
    build(client, alice, "open")

    assert_not_found(client.delete("/api/b/alice/1/tags/nope", headers=alice))
    assert_not_found(client.delete("/api/b/alice/1/tags/nope", headers=bob))


def test_deleting_a_tag_needs_build_delete(client: Client, users: Users, marid: Marid) -> None:
    alice_id, alice = users.create("alice")
    build(client, alice, tags=["keep"])

    response = client.delete(
        "/api/b/alice/1/tags/keep", headers=token(marid, alice_id, "build:read,write")
    )

    assert_lacks_scope(response, "build:delete")


# --- the snapshot: variables, keys, objects ------------------------------------------------


def test_variables_are_snapshotted_with_masked_values_hidden(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj")
    personal = client.post(
        "/api/variables", json={"key": "TOKEN", "value": SECRET, "mask": True}, headers=alice
    ).json()
    client.post(
        "/api/variables", json={"key": "REGION", "value": "eu", "namespace": "proj"}, headers=alice
    )
    client.post(
        "/api/variables",
        json={"key": "OTHER", "value": "x", "namespace": "elsewhere"},
        headers=alice,
    )
    build(client, alice, manifest=manifest("proj", extra="env:\n- MODE=ci\n"))

    response = client.get("/api/b/alice/1/variables", headers=alice)

    assert response.status_code == 200
    assert SECRET not in response.text
    rows = {v["key"]: v for v in response.json()}
    assert list(rows) == ["MODE", "REGION", "TOKEN"]
    assert (rows["TOKEN"]["value"], rows["TOKEN"]["masked"]) == ("xxxxxx", True)
    assert rows["TOKEN"]["variable_url"] == f"{BASE}/variables/{personal['id']}"
    assert (rows["MODE"]["value"], rows["MODE"]["variable_url"]) == ("ci", None)
    assert rows["REGION"]["value"] == "eu"


def test_keys_are_snapshotted_without_the_private_key(client: Client, alice: Auth) -> None:
    private = ed25519_key()
    key = client.post(
        "/api/keys", json={"name": "deploy", "key": private, "config": "Host x"}, headers=alice
    ).json()
    build(client, alice)

    response = client.get("/api/b/alice/1/keys", headers=alice)

    assert response.status_code == 200
    assert "PRIVATE KEY" not in response.text
    (item,) = response.json()
    assert (item["name"], item["key_id"], item["config"]) == ("deploy", key["id"], "Host x")
    assert item["location"] == "/root/.ssh/deploy"
    assert item["key_url"] == f"{BASE}/keys/{key['id']}"


def test_objects_are_listed_with_their_destination(client: Client, alice: Auth) -> None:
    data = upload(client, alice, "data.tar")
    upload(client, alice, "unused.bin")
    build(client, alice, manifest=manifest(extra="objects:\n- data.tar => /opt/data.tar\n"))

    response = client.get("/api/b/alice/1/objects", headers=alice)

    assert names(response) == ["data.tar"]
    (item,) = response.json()
    assert (item["id"], item["destination"], item["size"]) == (data["id"], "/opt/data.tar", 7)
    assert item["url"] == f"{BASE}/objects/{data['id']}"
    assert response.headers["x-total-count"] == "1"


def test_deleted_object_stays_listed_without_its_details(client: Client, alice: Auth) -> None:
    data = upload(client, alice, "data.tar")
    build(client, alice, manifest=manifest(extra="objects:\n- data.tar\n"))
    assert client.delete(f"/api/objects/{data['id']}", headers=alice).status_code == 204

    response = client.get("/api/b/alice/1/objects", headers=alice)

    (item,) = response.json()
    assert (item["name"], item["destination"]) == ("data.tar", "data.tar")
    assert (item["size"], item["type"]) == (None, None)


# --- badge -------------------------------------------------------------------------------------


def badge_text(response: Any) -> str:
    """The status shown by a badge, checking that it is a well-formed SVG document."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)  # noqa: S314 - our own SVG, in a test
    assert root.tag == f"{SVG}svg"
    label, status = (t.text for t in root.iter(f"{SVG}text"))
    assert label == "build"
    assert status is not None
    return status


def test_badge_shows_the_latest_build_of_a_public_namespace(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "open", visibility="public")
    build(client, alice, "open")
    build(client, alice, "open")
    client.delete("/api/b/alice/1", headers=alice)

    queued = client.get("/api/n/alice/open/-/badge.svg")
    client.delete("/api/b/alice/2", headers=alice)
    killed = client.get("/api/n/alice/open/-/badge.svg")

    assert badge_text(queued) == "queued"
    assert badge_text(killed) == "killed"


@pytest.mark.parametrize("visibility", ["private", "internal"])
def test_badge_of_a_non_public_namespace_is_unknown(
    client: Client, alice: Auth, visibility: str
) -> None:
    create_ns(client, alice, "hidden", visibility=visibility)
    build(client, alice, "hidden")

    response = client.get("/api/n/alice/hidden/-/badge.svg", headers=alice)

    assert badge_text(response) == "unknown"


def test_badge_is_unknown_without_builds_or_namespace(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "open", visibility="public")
    build(client, alice, "open/child")

    assert badge_text(client.get("/api/n/alice/open/-/badge.svg")) == "unknown"
    assert badge_text(client.get("/api/n/alice/nothing/-/badge.svg")) == "unknown"
    assert badge_text(client.get("/api/n/nobody/open/-/badge.svg")) == "unknown"
    assert badge_text(client.get("/api/n/alice/open/child/-/badge.svg")) == "queued"


def test_badge_ignores_authorization_entirely(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "open", visibility="public")

    response = client.get(
        "/api/n/alice/open/-/badge.svg", headers={"Authorization": "Bearer not-a-token"}
    )

    assert badge_text(response) == "unknown"


def test_openapi_describes_the_tag_body_as_an_array(client: Client) -> None:
    response = client.get("/api/schema/openapi.json")

    operation = response.json()["paths"]["/api/b/{user}/{number}/tags"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"type": "string"}}
