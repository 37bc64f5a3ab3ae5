"""Crons over HTTP: validation, placement, access, lists, changes, firing and its builds."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from infrastructure.bootstrap import Marid
from tests.conftest import Users
from tests.helpers import (
    BASE,
    DENIED,
    RFC3339_Z,
    Auth,
    Client,
    add_collaborator,
    assert_lacks_scope,
    assert_not_found,
    assert_unauthorized,
    create_ns,
    token,
)

MANIFEST = "driver: {type: os}\nstages: [test]\njobs:\n- stage: test\n  commands: [true]\n"


def manifest(namespace: str | None = None) -> str:
    return (f"namespace: {namespace}\n" if namespace else "") + MANIFEST


def post(client: Client, auth: Auth, **body: Any) -> Any:
    return client.post("/api/cron", json=body, headers=auth)


def create(client: Client, auth: Auth, name: str = "nightly", **fields: Any) -> dict[str, Any]:
    fields.setdefault("manifest", MANIFEST)
    response = post(client, auth, name=name, **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def fire(marid: Marid, cron_id: int, drivers: Collection[str] = ("os",)) -> int | None:
    """Fire the cron's pending run as a scheduler would once its time has come."""
    row = marid.crons.get(cron_id)
    assert row is not None
    due: datetime = row.fields["next_run"]
    marid.app.clock = lambda: due + timedelta(seconds=30)
    return marid.settle(marid.app.fire_due(cron_id, due, marid.build_inputs, drivers))


def test_create_returns_the_cron_with_its_next_run(client: Client, alice: Auth) -> None:
    body = create(client, alice, schedule="weekly", timezone="Europe/London")

    assert body["name"] == "nightly"
    assert (body["schedule"], body["timezone"]) == ("weekly", "Europe/London")
    assert body["manifest"] == MANIFEST
    assert body["prev_run"] is None
    assert body["last_error"] is None
    assert RFC3339_Z.match(body["next_run"])
    assert body["namespace_id"] is None
    assert body["namespace"] is None
    assert body["url"] == f"{BASE}/cron/{body['id']}"
    assert body["user"]["username"] == body["author"]["username"] == "alice"


def test_schedule_defaults_to_daily_in_utc(client: Client, alice: Auth) -> None:
    body = create(client, alice)

    next_run = datetime.fromisoformat(body["next_run"])
    assert (body["schedule"], body["timezone"]) == ("daily", "UTC")
    assert (next_run.hour, next_run.minute, next_run.second) == (0, 0, 0)


def test_every_bad_field_is_reported_together(client: Client, alice: Auth) -> None:
    response = post(client, alice, schedule="every tuesday", timezone="Mars/Base")

    assert response.status_code == 400
    assert response.json() == {
        "name": ["Name field required"],
        "schedule": ["Schedule invalid schedule"],
        "timezone": ["Timezone invalid timezone"],
        "manifest": ["Build manifest is required"],
    }


def test_a_cron_expression_is_accepted(client: Client, alice: Auth) -> None:
    body = create(client, alice, schedule="*/15 8-18 * * mon-fri")

    assert datetime.fromisoformat(body["next_run"]).minute % 15 == 0


def test_a_schedule_that_is_not_text_is_a_400_on_schedule(client: Client, alice: Auth) -> None:
    response = post(client, alice, name="n", schedule=5, manifest=MANIFEST)

    assert response.status_code == 400
    assert list(response.json()) == ["schedule"]


def test_names_are_unique_per_owner(client: Client, alice: Auth, bob: Auth) -> None:
    create(client, alice)
    create(client, bob)

    response = post(client, alice, name="nightly", manifest=MANIFEST)

    assert response.status_code == 400
    assert response.json() == {"name": ["Name already exists"]}


def test_disabled_driver_is_a_400_on_manifest(client: Client, alice: Auth) -> None:
    docker = "driver: {type: docker, image: golang, workspace: /go}\n"

    response = post(client, alice, name="n", manifest=docker)

    assert response.status_code == 400
    assert list(response.json()) == ["manifest"]


def test_the_manifest_namespace_places_the_cron(client: Client, alice: Auth) -> None:
    body = create(client, alice, manifest=manifest("proj"))

    assert body["namespace"]["path"] == "proj"
    assert body["namespace_id"] == body["namespace"]["id"]


def test_a_foreign_namespace_is_refused_with_422(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "proj")

    response = post(client, bob, name="n", manifest=manifest("proj@alice"))

    assert response.status_code == 422
    assert response.json() == DENIED


def test_scopes_and_sign_in_are_checked_first(client: Client, users: Users, marid: Marid) -> None:
    alice_id, alice = users.create("alice")
    reader = token(marid, alice_id, "cron:read")
    builds_only = token(marid, alice_id, "build:read")
    cron = create(client, alice)
    one = f"/api/cron/{cron['id']}"

    assert_unauthorized(client.get("/api/cron"))
    assert_unauthorized(post(client, {}, name="n"))
    assert_lacks_scope(post(client, reader, name="n", manifest=MANIFEST), "cron:write")
    assert_lacks_scope(client.get("/api/cron", headers=builds_only), "cron:read")
    assert_lacks_scope(client.get(one, headers=builds_only), "cron:read")
    assert_lacks_scope(client.patch(one, json={"name": "x"}, headers=reader), "cron:write")
    assert_lacks_scope(client.delete(one, headers=reader), "cron:delete")
    assert_lacks_scope(client.get(f"{one}/builds", headers=reader), "build:read")
    assert_lacks_scope(client.get(f"{one}/builds", headers=builds_only), "cron:read")


def test_list_holds_own_crons_and_those_of_shared_trees_by_name(
    client: Client, users: Users, marid: Marid, alice: Auth
) -> None:
    bob_id, bob = users.create("bob")
    root = create_ns(client, alice, "proj")
    add_collaborator(marid, root["id"], bob_id)
    create(client, alice, "zeta", manifest=manifest("proj"))
    create(client, alice, "private")
    create(client, bob, "alpha")

    response = client.get("/api/cron", headers=bob)
    searched = client.get("/api/cron", params={"search": "ZET"}, headers=bob)

    assert [c["name"] for c in response.json()] == ["alpha", "zeta"]
    assert [c["name"] for c in searched.json()] == ["zeta"]


def test_list_is_paginated(client: Client, alice: Auth) -> None:
    for name in ("a", "b", "c"):
        create(client, alice, name)

    response = client.get("/api/cron", params={"per_page": 2, "page": 2}, headers=alice)

    assert [c["name"] for c in response.json()] == ["c"]
    assert response.headers["x-total-count"] == "3"


def test_get_one_hides_other_peoples_crons(client: Client, alice: Auth, bob: Auth) -> None:
    cron = create(client, alice)

    mine = client.get(f"/api/cron/{cron['id']}", headers=alice)

    assert mine.status_code == 200
    assert mine.json()["id"] == cron["id"]
    assert_not_found(client.get(f"/api/cron/{cron['id']}", headers=bob))
    assert_not_found(client.get("/api/cron/999999", headers=alice))


def test_a_cron_in_a_public_namespace_is_readable_anonymously(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "pub", visibility="public")
    cron = create(client, alice, manifest=manifest("pub"))

    response = client.get(f"/api/cron/{cron['id']}")

    assert response.status_code == 200


def test_patch_applies_the_schedule_and_recomputes_next_run(client: Client, alice: Auth) -> None:
    cron = create(client, alice, schedule="monthly")

    response = client.patch(
        f"/api/cron/{cron['id']}",
        json={"schedule": "daily", "timezone": "America/New_York", "name": ""},
        headers=alice,
    )

    body = response.json()
    assert response.status_code == 200, body
    assert (body["name"], body["schedule"], body["timezone"]) == (
        "nightly",
        "daily",
        "America/New_York",
    )
    next_run = datetime.fromisoformat(body["next_run"])
    assert (next_run.hour, next_run.minute) in ((4, 0), (5, 0))  # midnight in New York
    assert client.get(f"/api/cron/{cron['id']}", headers=alice).json() == body


def test_patch_reports_bad_fields_and_a_taken_name(client: Client, alice: Auth) -> None:
    create(client, alice, "other")
    cron = create(client, alice)

    response = client.patch(
        f"/api/cron/{cron['id']}",
        json={"name": "other", "schedule": "61 * * * *", "timezone": "Nowhere"},
        headers=alice,
    )

    assert response.status_code == 400
    assert response.json() == {
        "name": ["Name already exists"],
        "schedule": ["Schedule invalid schedule"],
        "timezone": ["Timezone invalid timezone"],
    }


def test_patch_can_move_the_cron_with_its_manifest(client: Client, alice: Auth) -> None:
    cron = create(client, alice)

    response = client.patch(
        f"/api/cron/{cron['id']}", json={"manifest": manifest("proj")}, headers=alice
    )

    assert response.status_code == 200, response.text
    assert response.json()["namespace"]["path"] == "proj"


def test_patch_and_delete_of_a_hidden_or_missing_cron_are_404(
    client: Client, alice: Auth, bob: Auth
) -> None:
    cron = create(client, alice)
    one = f"/api/cron/{cron['id']}"

    assert_not_found(client.patch(one, json={"schedule": "nope"}, headers=bob))
    assert_not_found(client.delete(one, headers=bob))
    assert_not_found(client.patch("/api/cron/999999", json={"name": "x"}, headers=alice))
    assert_not_found(client.delete("/api/cron/999999", headers=alice))


def test_a_reader_who_cannot_write_gets_404(client: Client, alice: Auth, bob: Auth) -> None:
    create_ns(client, alice, "pub", visibility="public")
    cron = create(client, alice, manifest=manifest("pub"))
    url = f"/api/cron/{cron['id']}"

    patched = client.patch(url, json={"name": "x"}, headers=bob)
    badly_patched = client.patch(url, json={"schedule": "sometimes"}, headers=bob)
    deleted = client.delete(url, headers=bob)

    assert_not_found(patched)
    assert_not_found(badly_patched)  # the write check comes before the field checks
    assert_not_found(deleted)
    assert client.get(url).json() == client.get(url, headers=alice).json() == cron


def test_fired_builds_are_listed_and_survive_deleting_the_cron(
    client: Client, marid: Marid, alice: Auth
) -> None:
    cron = create(client, alice, "nightly run")
    build_id = fire(marid, cron["id"])

    listed = client.get(f"/api/cron/{cron['id']}/builds", headers=alice)
    after = client.get(f"/api/cron/{cron['id']}", headers=alice).json()
    deleted = client.delete(f"/api/cron/{cron['id']}", headers=alice)

    assert build_id is not None
    assert listed.status_code == 200
    [build] = listed.json()
    assert build["id"] == build_id
    assert build["trigger"]["type"] == "schedule"
    assert build["trigger"]["comment"].startswith("nightly run: Scheduled build, next run ")
    assert build["tags"] == ["cron:nightly-run"]
    assert after["prev_run"] is not None
    assert after["next_run"] > cron["next_run"]
    assert deleted.status_code == 204
    assert_not_found(client.get(f"/api/cron/{cron['id']}", headers=alice))
    assert client.get(f"/api/b/alice/{build['number']}", headers=alice).status_code == 200


def test_cron_builds_of_another_users_cron_are_404(client: Client, alice: Auth, bob: Auth) -> None:
    cron = create(client, alice)

    assert_not_found(client.get(f"/api/cron/{cron['id']}/builds", headers=bob))
    assert_not_found(client.get("/api/cron/999999/builds", headers=alice))


def test_a_failed_firing_is_visible_in_the_json(client: Client, marid: Marid, alice: Auth) -> None:
    cron = create(client, alice)

    fired = fire(marid, cron["id"], drivers=("docker",))

    body = client.get(f"/api/cron/{cron['id']}", headers=alice).json()
    assert fired is None
    assert "driver" in body["last_error"]
    assert RFC3339_Z.match(body["last_error_at"])
    assert body["next_run"] > cron["next_run"]
    assert client.get(f"/api/cron/{cron['id']}/builds", headers=alice).json() == []
