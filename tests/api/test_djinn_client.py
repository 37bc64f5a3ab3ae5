"""What Djinn's own API client sends, answered as it expects (CONTRACT.md "Updates and
unknown fields"): every field on PATCH with the unchanged ones empty, unknown fields
ignored, and one 400 listing every problem of a body.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infrastructure.bootstrap import Marid
from tests.helpers import Auth, Client, create_ns, event_states
from tests.unit.test_keys import rsa_key

# The zero value of Djinn's manifest type, as its client marshals an unchanged manifest.
EMPTY_MANIFEST = (
    'namespace: ""\ndriver: {}\nenv: []\nobjects: {}\nsources: []\nstages: []\n'
    "allow_failures: []\njobs: []\n"
)
MANIFEST = "driver:\n  type: os\nstages: [test]\njobs:\n- stage: test\n  commands: [true]\n"


def create_key(client: Client, auth: Auth, **fields: Any) -> dict[str, Any]:
    body = {"name": "deploy", "key": rsa_key(), "config": "Host *", **fields}
    response = client.post("/api/keys", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_cron(client: Client, auth: Auth) -> dict[str, Any]:
    body = {"name": "nightly", "schedule": "daily", "manifest": MANIFEST}
    response = client.post("/api/cron", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- namespaces ----------------------------------------------------------------------------


def test_namespace_patch_as_djinn_client_sends_it(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "djinn", description="old")
    body = {"parent": "", "name": "", "description": "x", "visibility": "internal"}

    response = client.patch("/api/n/alice/djinn", json=body, headers=alice)

    assert response.status_code == 200, response.text
    assert response.json()["description"] == "x"
    assert response.json()["visibility"] == "internal"
    assert response.json()["name"] == "djinn"


def test_namespace_patch_with_unchanged_create_only_fields_is_accepted(
    client: Client, alice: Auth
) -> None:
    create_ns(client, alice, "djinn")
    create_ns(client, alice, "docs", parent="djinn")
    body = {"parent": "djinn", "name": "docs", "description": "the docs"}

    response = client.patch("/api/n/alice/djinn/docs", json=body, headers=alice)

    assert response.status_code == 200, response.text
    assert response.json()["description"] == "the docs"


def test_namespace_patch_cannot_change_name_or_parent(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "djinn")
    create_ns(client, alice, "docs", parent="djinn")

    response = client.patch(
        "/api/n/alice/djinn/docs", json={"name": "other", "parent": "elsewhere"}, headers=alice
    )

    assert response.status_code == 400
    assert response.json() == {
        "name": ["Name cannot be changed"],
        "parent": ["Parent cannot be changed"],
    }


def test_empty_and_null_fields_keep_namespace_values(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "djinn", description="kept", visibility="public")

    response = client.patch(
        "/api/n/alice/djinn", json={"description": "", "visibility": None}, headers=alice
    )

    assert response.status_code == 200, response.text
    assert response.json()["description"] == "kept"
    assert response.json()["visibility"] == "public"


# --- keys ----------------------------------------------------------------------------------


def test_key_patch_as_djinn_client_sends_it(client: Client, alice: Auth) -> None:
    key = create_key(client, alice)
    body = {"namespace": "", "name": "", "key": "", "config": "UserKnownHostsFile /dev/null"}

    response = client.patch(f"/api/keys/{key['id']}", json=body, headers=alice)

    assert response.status_code == 200, response.text
    assert response.json()["config"] == "UserKnownHostsFile /dev/null"
    assert response.json()["name"] == "deploy"


def test_key_patch_with_an_empty_config_keeps_it(client: Client, alice: Auth) -> None:
    key = create_key(client, alice)

    response = client.patch(f"/api/keys/{key['id']}", json={"config": ""}, headers=alice)

    assert response.status_code == 200, response.text
    assert response.json()["config"] == "Host *"


def test_key_patch_may_resend_the_same_key_but_not_another(client: Client, alice: Auth) -> None:
    private = rsa_key()
    key = create_key(client, alice, key=private)

    same = client.patch(f"/api/keys/{key['id']}", json={"key": private}, headers=alice)
    other = client.patch(f"/api/keys/{key['id']}", json={"key": "something"}, headers=alice)

    assert same.status_code == 200, same.text
    assert other.status_code == 400
    assert other.json() == {"key": ["Key cannot be changed"]}


# --- cron ----------------------------------------------------------------------------------


def test_cron_patch_as_djinn_client_sends_it_keeps_the_manifest(
    client: Client, alice: Auth
) -> None:
    cron = create_cron(client, alice)
    body = {"name": "", "schedule": "monthly", "manifest": EMPTY_MANIFEST}

    response = client.patch(f"/api/cron/{cron['id']}", json=body, headers=alice)

    assert response.status_code == 200, response.text
    assert response.json()["schedule"] == "monthly"
    assert response.json()["manifest"] == MANIFEST
    assert response.json()["name"] == "nightly"


def test_cron_patch_with_a_real_manifest_still_replaces_it(client: Client, alice: Auth) -> None:
    cron = create_cron(client, alice)
    manifest = MANIFEST.replace("[true]", "[false]")

    response = client.patch(f"/api/cron/{cron['id']}", json={"manifest": manifest}, headers=alice)

    assert response.status_code == 200, response.text
    assert response.json()["manifest"] == manifest


def test_cron_patch_with_an_invalid_manifest_is_still_refused(client: Client, alice: Auth) -> None:
    cron = create_cron(client, alice)
    manifest = MANIFEST.replace("type: os", "type: nosuchdriver")

    response = client.patch(f"/api/cron/{cron['id']}", json={"manifest": manifest}, headers=alice)

    assert response.status_code == 400
    assert response.json() == {"manifest": ["Build manifest, invalid driver specified"]}


# --- unknown fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/namespaces", {"name": "extra", "colour": "red"}),
        ("/api/variables", {"key": "A", "value": "x", "masked": True, "colour": "red"}),
        ("/api/cron", {"name": "c", "schedule": "daily", "manifest": MANIFEST, "id": 99}),
        ("/api/builds", {"manifest": MANIFEST, "trigger": "manual"}),
    ],
    ids=["namespace", "variable", "cron", "build"],
)
def test_unknown_fields_are_ignored_on_create(
    client: Client, alice: Auth, path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json=body, headers=alice)

    assert response.status_code == 201, response.text
    assert "colour" not in response.json()


def test_unknown_fields_are_ignored_on_update(client: Client, alice: Auth) -> None:
    key = create_key(client, alice)

    response = client.patch(
        f"/api/keys/{key['id']}", json={"config": "Host x", "secret": "y"}, headers=alice
    )

    assert response.status_code == 200, response.text
    assert response.json()["config"] == "Host x"


# --- one 400 with every problem ------------------------------------------------------------


def test_a_wrongly_typed_field_does_not_hide_other_fields_errors(
    client: Client, alice: Auth
) -> None:
    response = client.post(
        "/api/namespaces", json={"name": 5, "visibility": "bogus"}, headers=alice
    )

    assert response.status_code == 400
    body = response.json()
    assert body["name"] == ["Name must be a string"]
    assert "visibility" in body


def test_a_wrongly_typed_field_alone_writes_nothing(
    client: Client, alice: Auth, marid: Marid
) -> None:
    """The other fields are valid: the use case would save, but the application refuses."""
    before = event_states(marid)

    response = client.post(
        "/api/namespaces", json={"name": "fine", "description": ["not", "text"]}, headers=alice
    )

    assert response.status_code == 400
    assert response.json() == {"description": ["Description must be a string"]}
    assert event_states(marid) == before
    assert client.get("/api/n/alice/fine", headers=alice).status_code == 404


def test_a_wrongly_typed_field_on_a_no_op_update_is_still_refused(
    client: Client, alice: Auth
) -> None:
    create_ns(client, alice, "djinn", description="kept")

    response = client.patch("/api/n/alice/djinn", json={"description": 7}, headers=alice)

    assert response.status_code == 400
    assert response.json() == {"description": ["Description must be a string"]}
    assert client.get("/api/n/alice/djinn", headers=alice).json()["description"] == "kept"


def test_type_errors_come_before_namespace_permission(
    client: Client, alice: Auth, bob: Auth
) -> None:
    """Validation (400) precedes the namespace permission check (422)."""
    create_ns(client, alice, "djinn", visibility="public")

    response = client.post(
        "/api/variables",
        json={"key": "A", "value": 5, "namespace": "djinn@alice"},
        headers=bob,
    )

    assert response.status_code == 400
    assert response.json() == {"value": ["Value must be a string"]}


def test_type_errors_and_rule_failures_are_reported_together_on_variables(
    client: Client, alice: Auth
) -> None:
    response = client.post(
        "/api/variables", json={"key": "1bad", "value": "x", "mask": "maybe"}, headers=alice
    )

    assert response.status_code == 400
    body = response.json()
    assert body["mask"] == ["Mask must be a boolean"]
    assert "key" in body


# --- deleting a namespace takes its crons and webhooks, as events ---------------------------


def deleted_topics(marid: Marid) -> list[str]:
    notifications = marid.app.recorder.select_notifications(start=None, limit=100_000)
    return [n.topic.split(":")[-1] for n in notifications if n.topic.endswith(".Deleted")]


def test_deleting_a_namespace_deletes_its_crons_and_webhooks(
    client: Client, alice: Auth, marid: Marid
) -> None:
    create_ns(client, alice, "djinn")
    cron = client.post(
        "/api/cron",
        json={"name": "nightly", "schedule": "daily", "manifest": "namespace: djinn\n" + MANIFEST},
        headers=alice,
    ).json()
    hook = client.post(
        "/api/n/alice/djinn/-/webhooks",
        json={"payload_url": "https://hooks.invalid/a"},
        headers=alice,
    )
    assert hook.status_code == 201, hook.text

    response = client.delete("/api/n/alice/djinn", headers=alice)

    assert response.status_code == 204
    assert client.get(f"/api/cron/{cron['id']}", headers=alice).status_code == 404
    assert all(c["id"] != cron["id"] for c in client.get("/api/cron", headers=alice).json())
    assert {"Cron.Deleted", "Webhook.Deleted"} <= set(deleted_topics(marid))


def test_names_and_urls_of_a_deleted_namespace_are_free_again(client: Client, alice: Auth) -> None:
    manifest = "namespace: djinn\n" + MANIFEST
    create_ns(client, alice, "djinn")
    client.post(
        "/api/cron",
        json={"name": "nightly", "schedule": "daily", "manifest": manifest},
        headers=alice,
    )
    client.post(
        "/api/n/alice/djinn/-/webhooks",
        json={"payload_url": "https://hooks.invalid/a"},
        headers=alice,
    )
    client.delete("/api/n/alice/djinn", headers=alice)
    create_ns(client, alice, "other")

    cron = client.post(
        "/api/cron",
        json={"name": "nightly", "schedule": "daily", "manifest": manifest},
        headers=alice,
    )
    hook = client.post(
        "/api/n/alice/other/-/webhooks",
        json={"payload_url": "https://hooks.invalid/a"},
        headers=alice,
    )

    assert cron.status_code == 201, cron.text
    assert hook.status_code == 201, hook.text


# --- Idempotency-Key on POST /builds --------------------------------------------------------


def submit(client: Client, auth: Auth, key: str | None, comment: str = "first") -> Any:
    headers = auth if key is None else {**auth, "Idempotency-Key": key}
    return client.post(
        "/api/builds", json={"manifest": MANIFEST, "comment": comment}, headers=headers
    )


def test_a_retried_submit_with_the_same_key_answers_the_first_build(
    client: Client, alice: Auth
) -> None:
    first = submit(client, alice, "retry-1")

    again = submit(client, alice, "retry-1", comment="a retry")

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert len(client.get("/api/builds", headers=alice).json()) == 1


def test_different_keys_or_none_make_different_builds(client: Client, alice: Auth) -> None:
    numbers = [submit(client, alice, key).json()["number"] for key in ("a", "b", None, None)]

    assert numbers == [1, 2, 3, 4]


def test_one_users_key_is_not_anothers(client: Client, alice: Auth, bob: Auth) -> None:
    mine = submit(client, alice, "shared")

    theirs = submit(client, bob, "shared")

    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["user_id"] != mine.json()["user_id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey"])
def test_a_malformed_idempotency_key_is_a_400(client: Client, alice: Auth, key: str) -> None:
    response = submit(client, alice, key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["message"]
    assert client.get("/api/builds", headers=alice).json() == []


def test_concurrent_submits_with_one_key_make_one_build(client: Client, alice: Auth) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: submit(client, alice, "race"), range(4)))

    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(client.get("/api/builds", headers=alice).json()) == 1


@pytest.mark.parametrize("path", ["/api/namespaces", "/api/variables", "/api/images"])
def test_a_lone_surrogate_is_named_not_called_truncated(
    client: Client, alice: Auth, path: str
) -> None:
    body = b'{"name": "ok\\ud800", "key": "A", "value": "x"}'

    response = client.post(
        path, content=body, headers={**alice, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "Request body is not valid JSON: \\ud800 is half of a UTF-16 surrogate "
        "pair, alone"
    }
