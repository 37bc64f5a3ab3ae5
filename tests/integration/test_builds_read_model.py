"""The builds read model on PostgreSQL: queries, filters, visibility, detach, rebuild, numbering."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Recording

from application.core import Outcome
from application.objects import StoredContent
from application.ports import BlobInfo
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.ids import PostgresIds
from projections.build_rows import BuildRow
from projections.builds import BuildFilters, BuildsProjection, BuildsView
from projections.maintenance import rebuild
from tests.helpers import add_collaborator
from tests.unit.test_keys import ed25519_key

ORIGIN = Origin.system("test")
MANIFEST = """
driver: {type: os}
sources: [https://example.com/app.git]
stages: [test, deploy]
allow_failures: [deploy]
jobs:
- stage: test
  commands: [make, make test]
  artifacts: [out/report.xml => report, out/Coverage.html]
- stage: deploy
  name: Ship It
  commands: [./ship]
"""
ALL = BuildFilters()


@dataclass
class World:
    alice: int
    bob: int
    carol: int
    proj: int
    object_id: int
    personal: int  # alice's build without a namespace, tagged
    shared: int  # bob's build in alice's namespace, with an object
    other: int  # carol's build


def with_namespace(namespace: str, extra: str = "") -> str:
    return f"namespace: {namespace}\n{MANIFEST}{extra}"


class Recorder:
    """Collects the recordings of outcomes so that a test waits once for all of them."""

    def __init__(self, marid: Marid) -> None:
        self.marid = marid
        self.recordings: list[Recording[UUID]] = []

    def __call__(self, outcome: Outcome[Any]) -> Any:
        self.recordings += outcome.recordings
        return outcome.value

    def settle(self) -> None:
        assert self.marid.read_models.wait_for(self.recordings, timeout=10)
        self.recordings = []


def submit(marid: Marid, caller: int, text: str = MANIFEST, **kwargs: Any) -> Outcome[int]:
    return marid.app.submit_build(
        caller,
        text,
        kwargs.get("comment"),
        kwargs.get("tags"),
        ("os",),
        marid.build_inputs,
        ORIGIN,
    )


@pytest.fixture
def world(marid: Marid) -> World:
    app, record = marid.app, Recorder(marid)
    alice, bob, carol = (
        record(app.register_user(n, f"{n}@example.com", ORIGIN)) for n in ("alice", "bob", "carol")
    )
    proj = record(app.create_namespace(alice, "proj", None, None, "private", ORIGIN))
    add_collaborator(marid, proj, bob)
    record(app.create_variable(alice, "HOME_VAR", "home", False, None, ORIGIN))
    record(app.create_variable(alice, "TOKEN", "s3cret-value", True, "proj", ORIGIN))
    record(app.create_variable(bob, "BOBS", "not for alice", False, None, ORIGIN))
    record(app.create_key(alice, "deploy", ed25519_key(), "Host deploy", "proj", ORIGIN))
    content = StoredContent("application/octet-stream", BlobInfo(3, "m" * 32, "s" * 64))
    object_id = record(app.create_object(None, alice, "data.bin", None, content, ORIGIN))
    record.settle()  # submissions snapshot variables, keys and objects from the read models
    personal = record(submit(marid, alice, comment="first", tags=["Release/1", "a"]))
    text = with_namespace("proj@alice", "objects: [data.bin => /data]\nenv: [EXTRA=1]\n")
    shared = record(submit(marid, bob, text, tags=["nightly"]))
    other = record(submit(marid, carol, tags=["a"]))
    record.settle()
    return World(alice, bob, carol, proj, object_id, personal, shared, other)


def build(marid: Marid, build_id: int) -> BuildRow:
    row = marid.builds.get_by_id(build_id)
    assert row is not None
    return row


def ids(rows: list[BuildRow]) -> list[int]:
    return [row.id for row in rows]


def set_status(marid: Marid, build_id: int, status: str) -> None:
    """Stands in for the worker, which is not written yet: only the row changes."""
    with marid.datastore.transaction(commit=True) as curs:
        curs.execute("UPDATE builds SET status = %s WHERE id = %s", (status, build_id))


def test_build_reads_back_with_owner_namespace_tags_and_trigger(marid: Marid, world: World) -> None:
    shared = marid.builds.get("ALICE", 2)

    assert shared is not None
    assert shared == build(marid, world.shared)
    assert (shared.number, shared.user_id, shared.user.username) == (2, world.alice, "alice")
    assert shared.namespace is not None
    assert (shared.namespace.path, shared.namespace.user.username) == ("proj", "alice")
    assert (shared.status, shared.pinned, shared.output, shared.started_at) == (
        "queued",
        False,
        None,
        None,
    )
    assert shared.tags == ["nightly"]
    assert shared.trigger == {
        "type": "manual",
        "comment": "",
        "data": {"email": "bob@example.com", "username": "bob"},
    }
    personal = build(marid, world.personal)
    assert (personal.namespace, personal.tags) == (None, ["Release/1", "a"])
    assert personal.trigger["comment"] == "first"
    assert personal.manifest == MANIFEST
    assert marid.builds.get("alice", 3) is None
    assert marid.builds.get_by_id(999) is None


def test_jobs_come_in_plan_order_and_filter_by_name_and_status(marid: Marid, world: World) -> None:
    jobs = marid.builds.jobs(world.personal)

    assert [(j.stage, j.name) for j in jobs] == [
        ("setup - #1", "create-driver"),
        ("setup - #1", "clone.0"),
        ("test", "test.1"),
        ("deploy", "ship-it"),
    ]
    assert jobs[2].commands == "make\nmake test"
    assert {j.status for j in jobs} == {"queued"}
    assert [j.name for j in marid.builds.jobs(world.personal, name="CLONE")] == ["clone.0"]
    assert marid.builds.jobs(world.personal, status="passed") == []
    assert marid.builds.job(world.personal, "ship-it") == jobs[3]
    assert marid.builds.job(world.personal, "ship") is None


def test_artifacts_are_placeholders_by_name_paged_and_searched(marid: Marid, world: World) -> None:
    test_job = marid.builds.job(world.personal, "test.1")
    assert test_job is not None

    rows, page = marid.builds.artifacts(world.personal, None, 1, 1)

    assert (page.number, page.total, [a.name for a in rows]) == (1, 2, ["Coverage.html"])
    found, _ = marid.builds.artifacts(world.personal, "REP", 1, 25)
    assert [(a.source, a.name, a.job_id, a.user_id) for a in found] == [
        ("out/report.xml", "report", test_job.id, world.alice)
    ]
    report = marid.builds.artifact(world.personal, "report")
    assert report is not None
    assert (report.size, report.md5, report.deleted_at) == (None, None, None)
    assert marid.builds.artifact(world.personal, "out/report.xml") is None


def test_tags_are_listed_by_name_with_the_user_who_added_them(marid: Marid, world: World) -> None:
    marid.settle(marid.app.tag_build(world.shared, world.bob, ["b", "Z"], ORIGIN))

    tags = marid.builds.tags(world.shared)

    assert [t.name for t in tags] == ["Z", "b", "nightly"]
    b = marid.builds.tag(world.shared, "b")
    assert b is not None
    assert (b.user_id, b.user is not None and b.user.username) == (world.bob, "bob")
    assert marid.builds.tag(world.shared, "B") is None
    assert build(marid, world.shared).tags == ["Z", "b", "nightly"]


def test_snapshot_holds_variables_keys_and_objects_with_secrets_sealed(
    marid: Marid, world: World
) -> None:
    variables = marid.builds.variables(world.shared)
    keys = marid.builds.keys(world.shared)
    objects, page = marid.builds.objects(world.shared, None, 1, 25)

    assert [(v.key, v.masked, v.variable_id is None) for v in variables] == [
        ("EXTRA", False, True),
        ("HOME_VAR", False, False),
        ("TOKEN", True, False),
    ]
    token = variables[2]
    assert token.value != "s3cret-value"
    assert marid.app.secrets.open(token.value) == "s3cret-value"
    assert [(k.name, k.config, k.location) for k in keys] == [
        ("deploy", "Host deploy", "/root/.ssh/deploy")
    ]
    assert [(o.object_id, o.name, o.destination) for o in objects] == [
        (world.object_id, "data.bin", "/data")
    ]
    assert page.total == 1
    assert marid.builds.objects(world.shared, "nothing", 1, 25)[0] == []
    assert [v.key for v in marid.builds.variables(world.other)] == []


def test_visible_list_holds_own_builds_and_those_in_collaborated_trees(
    marid: Marid, world: World
) -> None:
    alice, _ = marid.builds.visible(world.alice, ALL, 1, 25)
    bob, _ = marid.builds.visible(world.bob, ALL, 1, 25)
    carol, _ = marid.builds.visible(world.carol, ALL, 1, 25)

    assert ids(alice) == [world.shared, world.personal]
    assert ids(bob) == [world.shared]
    assert ids(carol) == [world.other]


def test_lists_page_newest_first(marid: Marid, world: World) -> None:
    first, page = marid.builds.visible(world.alice, ALL, 1, 1)
    last, clamped = marid.builds.visible(world.alice, ALL, 9, 1)

    assert (ids(first), page.total) == ([world.shared], 2)
    assert (ids(last), clamped.number) == ([world.personal], 2)


def test_filters_by_tag_search_status_and_pinned(marid: Marid, world: World) -> None:
    extra = marid.settle(submit(marid, world.alice, tags=["other"]))
    set_status(marid, world.personal, "passed_with_failures")
    set_status(marid, extra, "passed")
    marid.settle(marid.app.pin_build(world.shared, world.alice, True, ORIGIN))

    def visible(**filters: Any) -> list[int]:
        return ids(marid.builds.visible(world.alice, BuildFilters(**filters), 1, 25)[0])

    assert visible(tag="a") == [world.personal]
    assert visible(tag="release/1") == []
    assert visible(search="LEASE") == [world.personal]
    assert visible(search="%") == []
    assert visible(status="passed") == [extra, world.personal]
    assert visible(status="passed_with_failures") == [world.personal]
    assert visible(status="queued") == [world.shared]
    assert visible(pinned=True) == [world.shared]
    assert visible(search="i", status="queued") == [world.shared]


def test_namespace_and_object_lists_and_the_latest_build(marid: Marid, world: World) -> None:
    newer = marid.settle(submit(marid, world.alice, with_namespace("proj")))
    marid.settle(submit(marid, world.alice, with_namespace("proj/sub")))

    in_proj, page = marid.builds.in_namespace(world.proj, ALL, 1, 25)
    for_object, _ = marid.builds.for_object(world.object_id, ALL, 1, 25)
    latest = marid.builds.latest_in_namespace(world.proj)

    assert (ids(in_proj), page.total) == ([newer, world.shared], 2)
    assert ids(for_object) == [world.shared]
    assert latest is not None
    assert latest.id == newer
    assert marid.builds.latest_in_namespace(999) is None
    assert marid.builds.in_namespace(world.proj, BuildFilters(tag="nightly"), 1, 25)[0] != []


def test_kill_untag_and_pin_reach_the_read_model(marid: Marid, world: World) -> None:
    app = marid.app

    marid.settle(app.kill_build(world.personal, world.alice, ORIGIN))
    marid.settle(app.untag_build(world.personal, world.alice, "a", ORIGIN))
    marid.settle(app.pin_build(world.personal, world.alice, True, ORIGIN))

    row = build(marid, world.personal)
    assert (row.status, row.tags, row.pinned) == ("killed", ["Release/1"], True)
    assert row.finished_at is not None
    assert {j.status for j in marid.builds.jobs(world.personal)} == {"killed"}
    marid.settle(app.pin_build(world.personal, world.alice, False, ORIGIN))
    assert build(marid, world.personal).pinned is False


def test_deleted_namespace_leaves_its_builds_with_the_owner_detached(
    marid: Marid, world: World
) -> None:
    marid.settle(marid.app.delete_namespace(world.proj, world.alice, ORIGIN))

    row = build(marid, world.shared)

    assert (row.namespace_id, row.namespace, row.user_id) == (None, None, world.alice)
    assert ids(marid.builds.visible(world.alice, ALL, 1, 25)[0]) == [world.shared, world.personal]
    assert marid.builds.visible(world.bob, ALL, 1, 25)[0] == []


def test_rebuild_of_the_builds_projection_gives_identical_rows(marid: Marid, world: World) -> None:
    app = marid.app
    marid.settle(app.kill_build(world.other, world.carol, ORIGIN))
    marid.settle(app.tag_build(world.personal, world.alice, ["x/y"], ORIGIN))
    marid.settle(app.untag_build(world.personal, world.alice, "a", ORIGIN))
    marid.settle(app.pin_build(world.shared, world.bob, True, ORIGIN))
    marid.settle(app.delete_namespace(world.proj, world.alice, ORIGIN))
    view = marid.projections["builds"].view
    live = {table: view.rows(table) for table in BuildsView.tables}

    applied = rebuild(app, marid.datastore, BuildsProjection, BuildsView)  # type: ignore[arg-type]

    assert applied > 0
    assert {table: view.rows(table) for table in BuildsView.tables} == live
    assert all(live[table] for table in BuildsView.tables)


def test_parallel_submits_for_one_owner_get_numbers_without_gaps_or_repeats(
    marid: Marid, world: World
) -> None:
    owner = marid.app.register_user("dave", "dave@example.com", ORIGIN).value

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: submit(marid, owner), range(50)))

    assert marid.read_models.wait_for([r for o in outcomes for r in o.recordings], timeout=30)
    numbers = sorted(build(marid, o.value).number for o in outcomes)
    assert numbers == list(range(1, 51))
    assert len({o.value for o in outcomes}) == 50


@pytest.fixture
def ids_allocator(marid: Marid) -> PostgresIds:
    return PostgresIds(marid.datastore)


def test_bulk_ids_come_from_one_sequence_in_increasing_order(
    ids_allocator: PostgresIds,
) -> None:
    first = ids_allocator.next_ids("bulk_test", 3)

    single = ids_allocator.next_id("bulk_test")
    more = ids_allocator.next_ids("bulk_test", 2)

    assert first == [1, 2, 3]
    assert (single, more) == (4, [5, 6])
    assert ids_allocator.next_ids("bulk_test", 0) == []
