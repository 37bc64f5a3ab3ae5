"""The Cron aggregate and its use cases on the in-memory store, with a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.app import MaridApplication
from application.crons import cron_comment
from domain.builds import Build
from domain.crons import Cron, CronNotDueError
from domain.errors import NamespacePermissionError, NotFoundError, ValidationError
from domain.origin import Origin
from tests.unit.conftest import ORIGIN, POPO, add_collaborator, register

MANIFEST = "driver: {type: os}\nstages: [test]\njobs:\n- stage: test\n  commands: [true]\n"
DRIVERS = ("os",)
START = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class NoInputs:
    def variables(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return []

    def keys(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return []

    def objects(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def app(clock: Clock) -> MaridApplication:
    return MaridApplication(POPO, clock=clock)


def manifest(namespace: str | None = None) -> str:
    return (f"namespace: {namespace}\n" if namespace else "") + MANIFEST


def create(
    app: MaridApplication,
    caller: int,
    name: str | None = "nightly",
    schedule: str | None = None,
    timezone: str | None = None,
    text: str | None = MANIFEST,
) -> int:
    return app.create_cron(caller, name, schedule, timezone, text, DRIVERS, ORIGIN).value


def load(app: MaridApplication, cron_id: int) -> Cron:
    cron = app.load(Cron.create_id(cron_id), Cron)
    assert cron is not None
    return cron


def fields(call: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.fields


def test_new_cron_runs_daily_in_utc_by_default(app: MaridApplication) -> None:
    alice = register(app, "alice")

    cron = load(app, create(app, alice))

    assert (cron.schedule, cron.timezone) == ("daily", "UTC")
    assert cron.next_run == datetime(2030, 1, 11, tzinfo=UTC)
    assert cron.prev_run is None


def test_every_field_rule_is_reported_together(app: MaridApplication) -> None:
    alice = register(app, "alice")

    errors = fields(lambda: create(app, alice, "", "sometimes", "Nowhere/Town", "driver: 1"))

    assert set(errors) == {"name", "schedule", "timezone", "manifest"}
    assert errors["name"] == ["Name field required"]
    assert errors["schedule"] == ["Schedule invalid schedule"]
    assert errors["timezone"] == ["Timezone invalid timezone"]


def test_names_are_unique_per_owner_and_per_namespace(app: MaridApplication) -> None:
    alice = register(app, "alice")
    create(app, alice)

    errors = fields(lambda: create(app, alice))
    in_namespace = create(app, alice, text=manifest("proj"))

    assert errors == {"name": ["Name already exists"]}
    assert load(app, in_namespace).namespace_id is not None


def test_disabled_driver_is_refused_under_manifest(app: MaridApplication) -> None:
    alice = register(app, "alice")
    docker = "driver: {type: docker, image: golang, workspace: /go}\n"

    errors = fields(lambda: create(app, alice, text=docker))

    assert list(errors) == ["manifest"]


def test_foreign_namespace_is_a_permission_error_after_field_errors(
    app: MaridApplication,
) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    app.create_namespace(alice, "proj", None, None, None, ORIGIN)

    with pytest.raises(NamespacePermissionError):
        create(app, bob, text=manifest("proj@alice"))
    errors = fields(lambda: create(app, bob, schedule="bad", text=manifest("proj@alice")))

    assert errors == {"schedule": ["Schedule invalid schedule"]}


def test_collaborators_cron_belongs_to_the_namespace_owner(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    root = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value
    add_collaborator(app, root, bob)

    cron = load(app, create(app, bob, text=manifest("proj@alice")))

    assert (cron.owner_id, cron.author_id, cron.namespace_id) == (alice, bob, root)


def test_update_recomputes_next_run_and_keeps_what_is_absent(
    app: MaridApplication, clock: Clock
) -> None:
    alice = register(app, "alice")
    cron_id = create(app, alice, schedule="monthly")
    clock.now = START + timedelta(days=1)

    app.update_cron(cron_id, alice, None, "daily", "Europe/London", None, DRIVERS, ORIGIN)

    cron = load(app, cron_id)
    assert (cron.name, cron.schedule, cron.timezone) == ("nightly", "daily", "Europe/London")
    assert cron.next_run == datetime(2030, 1, 12, tzinfo=UTC)


def test_rename_frees_the_old_name_and_checks_the_new_one(app: MaridApplication) -> None:
    alice = register(app, "alice")
    first = create(app, alice, "a")
    create(app, alice, "b")

    errors = fields(lambda: app.update_cron(first, alice, "b", None, None, None, DRIVERS, ORIGIN))
    app.update_cron(first, alice, "c", None, None, None, DRIVERS, ORIGIN)
    again = create(app, alice, "a")

    assert errors == {"name": ["Name already exists"]}
    assert load(app, first).name == "c"
    assert load(app, again).name == "a"


def test_only_writers_may_change_or_delete(app: MaridApplication) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    cron_id = create(app, alice)

    with pytest.raises(NotFoundError):
        app.update_cron(cron_id, bob, "x", None, None, None, DRIVERS, ORIGIN)
    with pytest.raises(NotFoundError):  # the write check comes before the field checks
        app.update_cron(cron_id, bob, None, "sometimes", None, None, DRIVERS, ORIGIN)
    with pytest.raises(NotFoundError):
        app.delete_cron(cron_id, bob, ORIGIN)
    cron = load(app, cron_id)
    assert (cron.name, cron.deleted) == ("nightly", False)
    app.delete_cron(cron_id, alice, ORIGIN)

    with pytest.raises(NotFoundError):
        app.delete_cron(cron_id, alice, ORIGIN)


def test_firing_submits_a_scheduled_build_tagged_with_the_cron(
    app: MaridApplication, clock: Clock
) -> None:
    alice = register(app, "alice")
    cron_id = create(app, alice, "nightly run")
    due = load(app, cron_id).next_run
    clock.now = due + timedelta(seconds=5)

    build_id = app.fire_due(cron_id, due, NoInputs(), DRIVERS).value

    assert build_id is not None
    build = app.load(Build.create_id(build_id), Build)
    assert build is not None
    assert build.tags == {"cron:nightly-run"}
    event: Any = app.mapper.to_domain_event(
        app.recorder.select_events(Build.create_id(build_id), limit=1)[0]
    )
    assert event.trigger["type"] == "schedule"
    assert event.trigger["comment"] == cron_comment("nightly run", due)
    assert event.trigger["data"]["username"] == "alice"
    cron = load(app, cron_id)
    assert cron.prev_run == clock.now
    assert cron.next_run == datetime(2030, 1, 12, tzinfo=UTC)


def test_each_due_time_fires_once(app: MaridApplication, clock: Clock) -> None:
    alice = register(app, "alice")
    cron_id = create(app, alice)
    due = load(app, cron_id).next_run
    clock.now = due

    first = app.fire_due(cron_id, due, NoInputs(), DRIVERS).value
    second = app.fire_due(cron_id, due, NoInputs(), DRIVERS).value

    assert first is not None
    assert second is None


def test_a_time_not_yet_come_does_not_fire(app: MaridApplication) -> None:
    alice = register(app, "alice")
    cron_id = create(app, alice)

    fired = app.fire_due(cron_id, load(app, cron_id).next_run, NoInputs(), DRIVERS).value

    assert fired is None


def test_missed_runs_fire_once_and_next_run_moves_to_the_future(
    app: MaridApplication, clock: Clock
) -> None:
    alice = register(app, "alice")
    cron_id = create(app, alice)
    due = load(app, cron_id).next_run
    clock.now = due + timedelta(days=5, hours=3)

    first = app.fire_due(cron_id, due, NoInputs(), DRIVERS).value
    after = load(app, cron_id).next_run
    again = app.fire_due(cron_id, due + timedelta(days=1), NoInputs(), DRIVERS).value

    assert first is not None
    assert after == datetime(2030, 1, 17, tzinfo=UTC)
    assert again is None


def test_a_manifest_become_invalid_records_the_failure_and_moves_on(
    app: MaridApplication, clock: Clock
) -> None:
    alice = register(app, "alice")
    cron_id = create(app, alice)
    due = load(app, cron_id).next_run
    clock.now = due

    fired = app.fire_due(cron_id, due, NoInputs(), ("docker",)).value  # os disabled since

    cron = load(app, cron_id)
    assert fired is None
    assert cron.last_error is not None
    assert "driver" in cron.last_error
    assert cron.next_run > due
    clock.now = cron.next_run
    assert app.fire_due(cron_id, cron.next_run, NoInputs(), DRIVERS).value is not None
    assert load(app, cron_id).last_error is None


def test_a_deleted_cron_does_not_fire(app: MaridApplication, clock: Clock) -> None:
    alice = register(app, "alice")
    cron_id = create(app, alice)
    due = load(app, cron_id).next_run
    app.delete_cron(cron_id, alice, ORIGIN)
    clock.now = due

    assert app.fire_due(cron_id, due, NoInputs(), DRIVERS).value is None


def test_the_aggregate_refuses_a_due_time_that_is_not_pending() -> None:
    cron = Cron(
        public_id=1,
        owner_id=1,
        author_id=1,
        namespace_id=None,
        name="n",
        schedule="daily",
        timezone="UTC",
        manifest=MANIFEST,
        next_run=datetime(2030, 1, 11, tzinfo=UTC),
        origin=Origin.system("test"),
    )

    with pytest.raises(CronNotDueError):
        cron.fire(datetime(2030, 1, 12, tzinfo=UTC), START + timedelta(days=5), 1, ORIGIN)
    with pytest.raises(CronNotDueError):
        cron.fire(cron.next_run, cron.next_run - timedelta(seconds=1), 1, ORIGIN)
    cron.fire(cron.next_run, cron.next_run, 7, ORIGIN)

    assert cron.next_run == datetime(2030, 1, 12, tzinfo=UTC)
