"""Build use cases on the in-memory event store, with a fake of the BuildInputs port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from application.app import MaridApplication
from domain.builds import Build
from domain.errors import NamespacePermissionError, NotFoundError, ValidationError
from tests.unit.conftest import ORIGIN, add_collaborator, register

MANIFEST = """
driver: {type: os}
stages: [test]
jobs:
- stage: test
  commands: [make test]
  artifacts: [out/report.xml => report]
"""


def manifest(namespace: str | None = None, extra: str = "") -> str:
    head = f"namespace: {namespace}\n" if namespace else ""
    return head + MANIFEST + extra


class FakeInputs:
    """BuildInputs from lists per (owner, namespace); personal rows come first, as in SQL."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[int, int | None], list[dict[str, Any]]]] = {
            "variables": {},
            "keys": {},
            "objects": {},
        }

    def add(self, kind: str, owner_id: int, namespace_id: int | None, **row: Any) -> None:
        self.rows[kind].setdefault((owner_id, namespace_id), []).append(row)

    def _select(self, kind: str, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        personal = self.rows[kind].get((owner_id, None), [])
        in_namespace = [
            row
            for (_, ns), rows in self.rows[kind].items()
            if ns is not None and ns == namespace_id
            for row in rows
        ]
        return personal + in_namespace

    def variables(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return self._select("variables", owner_id, namespace_id)

    def keys(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return self._select("keys", owner_id, namespace_id)

    def objects(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return self._select("objects", owner_id, namespace_id)


@pytest.fixture
def inputs() -> FakeInputs:
    return FakeInputs()


def submit(
    app: MaridApplication,
    caller_id: int,
    inputs: FakeInputs,
    text: str | None = MANIFEST,
    *,
    comment: str | None = None,
    tags: list[str] | None = None,
) -> int:
    return app.submit_build(caller_id, text, comment, tags, ("os",), inputs, ORIGIN).value


def load(app: MaridApplication, build_id: int) -> Build:
    build = app.load(Build.create_id(build_id), Build)
    assert build is not None
    return build


def submitted(app: MaridApplication, build_id: int) -> Build.Submitted:
    stored = app.recorder.select_events(Build.create_id(build_id), limit=1)
    event = app.mapper.to_domain_event(stored[0])
    assert isinstance(event, Build.Submitted)
    return event


def manifest_errors(app: MaridApplication, caller_id: int, inputs: FakeInputs, text: str) -> Any:
    with pytest.raises(ValidationError) as caught:
        submit(app, caller_id, inputs, text)
    return caught.value.fields


def test_numbers_count_per_owner(app: MaridApplication, inputs: FakeInputs) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")

    numbers = [load(app, submit(app, user, inputs)).number for user in (alice, alice, bob, alice)]

    assert numbers == [1, 2, 1, 3]


def test_collaborators_build_takes_the_namespace_owners_next_number(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    ns_id = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    add_collaborator(app, ns_id, bob)
    submit(app, alice, inputs)

    build = load(app, submit(app, bob, inputs, manifest("proj@alice")))

    event = submitted(app, build.public_id)
    assert (build.number, build.owner_id, build.namespace_id) == (2, alice, ns_id)
    assert event.submitter_id == bob
    assert event.trigger == {
        "type": "manual",
        "comment": "",
        "data": {"email": "bob@example.com", "username": "bob"},
    }


def test_foreign_namespace_without_write_access_is_refused(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    app.create_namespace(alice, "proj", None, None, None, ORIGIN)

    with pytest.raises(NamespacePermissionError):
        submit(app, bob, inputs, manifest("proj@alice"))

    with pytest.raises(NamespacePermissionError):
        submit(app, bob, inputs, manifest("other@alice"))


def test_manifest_problems_are_field_errors_under_manifest(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice = register(app, "alice")

    missing = manifest_errors(app, alice, inputs, "")
    bad_driver = manifest_errors(app, alice, inputs, "driver: {type: nope}")
    bad_ref = manifest_errors(app, alice, inputs, manifest("pro!j"))
    bad_owner = manifest_errors(app, alice, inputs, manifest("proj@"))

    assert missing == {"manifest": ["Build manifest is required"]}
    assert bad_driver == {"manifest": ["Build manifest, invalid driver specified"]}
    assert bad_ref == {
        "manifest": ["Build manifest, pro!j: namespace: name can only contain letters and numbers"]
    }
    assert bad_owner == {"manifest": ["Build manifest, proj@: namespace: invalid owner"]}


def test_disabled_driver_is_refused(app: MaridApplication, inputs: FakeInputs) -> None:
    alice = register(app, "alice")

    with pytest.raises(ValidationError) as caught:
        app.submit_build(alice, MANIFEST, None, None, ("docker",), inputs, ORIGIN)

    assert caught.value.fields == {
        "manifest": ["Build manifest, driver os is not enabled on this server"]
    }


def test_own_missing_namespaces_are_created_only_when_the_submit_succeeds(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice = register(app, "alice")
    failing = manifest("proj/sub", "objects: [data.bin]\n")

    fields = manifest_errors(app, alice, inputs, failing)

    assert fields == {"manifest": ['Build manifest, object "data.bin" not found']}
    assert app.find_namespace(alice, "proj") is None
    build = load(app, submit(app, alice, inputs, manifest("proj/sub")))
    sub = app.find_namespace(alice, "proj/sub")
    assert sub is not None
    assert app.find_namespace(alice, "proj") is not None
    assert build.namespace_id == sub.public_id


def test_every_missing_object_is_reported(app: MaridApplication, inputs: FakeInputs) -> None:
    alice = register(app, "alice")
    inputs.add("objects", alice, None, object_id=5, name="present")

    fields = manifest_errors(app, alice, inputs, manifest(extra="objects: [a, present, b]\n"))

    assert fields == {
        "manifest": [
            'Build manifest, object "a" not found',
            'Build manifest, object "b" not found',
        ]
    }


def test_snapshot_holds_stored_variables_then_manifest_env_with_masked_values_sealed(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice = register(app, "alice")
    ns_id = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    inputs.add("variables", alice, None, variable_id=1, key="HOME_VAR", value="h", masked=False)
    inputs.add("variables", alice, ns_id, variable_id=2, key="TOKEN", value="sealed:x", masked=True)
    inputs.add("variables", alice, 999, variable_id=3, key="OTHER", value="o", masked=False)
    text = manifest("proj", "env: [A=1, TOKEN=plain=text]\n")

    event = submitted(app, submit(app, alice, inputs, text))

    assert [{k: v for k, v in row.items() if k != "id"} for row in event.variables] == [
        {"variable_id": 1, "key": "HOME_VAR", "value": "h", "masked": False},
        {"variable_id": 2, "key": "TOKEN", "value": "sealed:x", "masked": True},
        {"variable_id": None, "key": "A", "value": "1", "masked": False},
        {"variable_id": None, "key": "TOKEN", "value": "plain=text", "masked": False},
    ]
    assert len({row["id"] for row in event.variables}) == 4


def test_snapshot_holds_sealed_keys_at_their_location_and_objects_by_name(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice = register(app, "alice")
    ns_id = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    inputs.add("keys", alice, None, key_id=4, name="deploy", config="Host x", key="sealed:k")
    inputs.add("objects", alice, None, object_id=7, name="data.bin")
    inputs.add("objects", alice, None, object_id=8, name="shared")
    inputs.add("objects", alice, ns_id, object_id=9, name="shared")
    text = manifest("proj", "objects: [data.bin => /work/d, shared]\n")

    event = submitted(app, submit(app, alice, inputs, text))

    assert [{k: v for k, v in row.items() if k != "id"} for row in event.keys] == [
        {
            "key_id": 4,
            "name": "deploy",
            "config": "Host x",
            "key": "sealed:k",
            "location": "/root/.ssh/deploy",
        }
    ]
    assert [(o["object_id"], o["name"], o["destination"]) for o in event.objects] == [
        (7, "data.bin", "/work/d"),
        (9, "shared", "shared"),
    ]


def test_jobs_and_artifacts_get_ids_in_plan_order(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice = register(app, "alice")

    event = submitted(app, submit(app, alice, inputs, manifest(extra="sources: [https://x/y]\n")))

    assert [(j["id"], j["name"]) for j in event.jobs] == [
        (1, "create-driver"),
        (2, "clone.0"),
        (3, "test.1"),
    ]
    assert event.jobs[2]["artifacts"] == [{"source": "out/report.xml", "name": "report", "id": 1}]
    assert event.stages[0] == {"name": "setup - #1", "can_fail": False}
    assert event.manifest == manifest(extra="sources: [https://x/y]\n")


def test_tags_at_submit_drop_invalid_names_and_repeats(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice = register(app, "alice")

    build_id = submit(app, alice, inputs, tags=["b", "a/x", "bad tag", "", "b", "ünï.1"])

    event = submitted(app, build_id)
    assert [(t["name"], t["user_id"]) for t in event.tags] == [
        ("b", alice),
        ("a/x", alice),
        ("ünï.1", alice),
    ]
    assert load(app, build_id).tags == {"b", "a/x", "ünï.1"}


def test_tagging_returns_only_the_new_valid_names(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice = register(app, "alice")
    build_id = submit(app, alice, inputs, tags=["old"])

    added = app.tag_build(build_id, alice, ["old", "new", "new", "no way"], ORIGIN).value

    assert added == ["new"]
    assert load(app, build_id).tags == {"old", "new"}


def test_untagging_an_absent_tag_is_not_found(app: MaridApplication, inputs: FakeInputs) -> None:
    alice = register(app, "alice")
    build_id = submit(app, alice, inputs, tags=["old"])

    app.untag_build(build_id, alice, "old", ORIGIN)

    with pytest.raises(NotFoundError):
        app.untag_build(build_id, alice, "old", ORIGIN)
    assert load(app, build_id).tags == set()


def test_only_writers_of_the_namespace_may_tag_pin_and_kill(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice, bob, eve = register(app, "alice"), register(app, "bob"), register(app, "eve")
    ns_id = app.create_namespace(alice, "proj", None, None, "public", ORIGIN).value
    add_collaborator(app, ns_id, bob)
    build_id = submit(app, alice, inputs, manifest("proj"), tags=["t"])
    refused: list[Callable[[], object]] = [
        lambda: app.tag_build(build_id, eve, ["x"], ORIGIN),
        lambda: app.untag_build(build_id, eve, "t", ORIGIN),
        lambda: app.pin_build(build_id, eve, True, ORIGIN),
        lambda: app.kill_build(build_id, eve, ORIGIN),
    ]

    for attempt in refused:
        with pytest.raises(NotFoundError):
            attempt()
    build = load(app, build_id)
    assert (build.tags, build.pinned, build.status) == ({"t"}, False, "queued")

    app.tag_build(build_id, bob, ["x"], ORIGIN)
    app.untag_build(build_id, bob, "t", ORIGIN)
    app.pin_build(build_id, bob, True, ORIGIN)
    build = load(app, build_id)
    assert (build.tags, build.pinned) == ({"x"}, True)


def test_only_the_owner_may_change_a_personal_build(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    build_id = submit(app, alice, inputs)

    with pytest.raises(NotFoundError):
        app.pin_build(build_id, bob, True, ORIGIN)
    assert load(app, build_id).pinned is False

    app.pin_build(build_id, alice, True, ORIGIN)
    app.pin_build(build_id, alice, False, ORIGIN)
    assert load(app, build_id).pinned is False


def test_missing_build_is_not_found_before_permission(app: MaridApplication) -> None:
    alice = register(app, "alice")
    calls: list[Callable[[], object]] = [
        lambda: app.tag_build(404, alice, ["x"], ORIGIN),
        lambda: app.untag_build(404, alice, "x", ORIGIN),
        lambda: app.pin_build(404, alice, True, ORIGIN),
        lambda: app.kill_build(404, alice, ORIGIN),
    ]

    for call in calls:
        with pytest.raises(NotFoundError):
            call()


def test_killing_a_queued_build_kills_it_and_every_job(
    app: MaridApplication, inputs: FakeInputs
) -> None:
    alice = register(app, "alice")
    build_id = submit(app, alice, inputs)

    app.kill_build(build_id, alice, ORIGIN)
    app.kill_build(build_id, alice, ORIGIN)

    build = load(app, build_id)
    assert build.status == "killed"
    assert set(build.job_statuses.values()) == {"killed"}
    assert build.version == 2
