"""The crons projection on its in-memory view: a cron, its firings and their builds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.crons import Cron
from projections.crons import CronsProjection, CronsTables
from projections.memory import in_memory
from tests.unit.projection_support import APP, ORIGIN, feed

NEXT_RUN = datetime(2030, 1, 2, tzinfo=UTC)


def daily_cron(public_id: int = 8) -> Cron:
    return Cron(
        public_id=public_id,
        owner_id=1,
        author_id=2,
        namespace_id=None,
        name="nightly",
        schedule="daily",
        timezone="UTC",
        manifest="driver:\n  type: os\n",
        next_run=NEXT_RUN,
        origin=ORIGIN,
    )


def projected(cron: Cron) -> tuple[CronsProjection, CronsTables, int]:
    view = in_memory(CronsTables)
    projection = CronsProjection(view=view)
    return projection, view, feed(projection, cron.collect_events())


def test_created_cron_has_its_schedule_and_has_not_run() -> None:
    cron = daily_cron()

    _, view, _ = projected(cron)

    assert view.rows("crons") == [
        {
            "id": 8,
            "aggregate_id": cron.id,
            "user_id": 1,
            "author_id": 2,
            "namespace_id": None,
            "name": "nightly",
            "schedule": "daily",
            "timezone": "UTC",
            "manifest": "driver:\n  type: os\n",
            "next_run": NEXT_RUN,
            "prev_run": None,
            "last_error": None,
            "last_error_at": None,
            "created_at": cron.created_on,
            "updated_at": None,
        }
    ]
    assert view.rows("cron_builds") == []


def test_updated_cron_moves_owner_namespace_and_schedule() -> None:
    cron = daily_cron()
    projection, view, last = projected(cron)
    cron.update(3, 9, "weekly", "weekly", "Europe/Paris", "m", NEXT_RUN, ORIGIN)
    [updated] = cron.collect_events()

    feed(projection, [updated], first=last + 1)

    [row] = view.rows("crons")
    assert (row["user_id"], row["namespace_id"], row["author_id"]) == (3, 9, 2)
    assert (row["name"], row["schedule"], row["timezone"], row["manifest"]) == (
        "weekly",
        "weekly",
        "Europe/Paris",
        "m",
    )
    assert (row["next_run"], row["updated_at"]) == (updated.next_run, updated.timestamp)


def test_firing_links_the_build_and_a_failure_is_recorded_until_the_next_firing() -> None:
    cron = daily_cron()
    projection, view, last = projected(cron)
    now = NEXT_RUN + timedelta(minutes=1)
    cron.failed(NEXT_RUN, now, "manifest invalid", ORIGIN)
    [failed] = cron.collect_events()
    last = feed(projection, [failed], first=last + 1)
    after_failure = view.rows("crons")[0]
    later = cron.next_run + timedelta(minutes=1)
    cron.fire(cron.next_run, later, 42, ORIGIN)
    [fired] = cron.collect_events()

    feed(projection, [fired], first=last + 1)
    feed(projection, [fired], first=last + 1)  # repeated: no second link, no error

    assert (after_failure["last_error"], after_failure["last_error_at"]) == (
        "manifest invalid",
        now,
    )
    assert (after_failure["prev_run"], after_failure["next_run"]) == (now, failed.next_run)
    [row] = view.rows("crons")
    assert (row["prev_run"], row["next_run"]) == (later, fired.next_run)
    assert (row["last_error"], row["last_error_at"]) == (None, None)
    assert view.rows("cron_builds") == [{"cron_id": 8, "build_id": 42, "due": fired.due}]
    assert view.max_tracking_id(APP) == last + 1


def test_deleted_cron_takes_its_build_links_but_not_another_crons() -> None:
    cron, other = daily_cron(8), daily_cron(9)
    projection, view, last = projected(cron)
    last = feed(projection, other.collect_events(), first=last + 1)
    for fired in (cron, other):
        fired.fire(NEXT_RUN, NEXT_RUN, fired.public_id * 10, ORIGIN)
        last = feed(projection, fired.collect_events(), first=last + 1)
    cron.delete(ORIGIN)

    feed(projection, cron.collect_events(), first=last + 1)

    assert [row["id"] for row in view.rows("crons")] == [9]
    assert [row["build_id"] for row in view.rows("cron_builds")] == [90]
