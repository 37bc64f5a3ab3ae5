"""Schedule arithmetic with fixed times: named schedules, every cron field, zones, DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.schedules import (
    SCHEDULE_INVALID,
    TIMEZONE_INVALID,
    Schedule,
    ScheduleError,
    next_run,
    schedule_errors,
)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def runs(schedule: str, start: datetime, count: int, zone: str = "UTC") -> list[datetime]:
    times, after = [], start
    for _ in range(count):
        after = next_run(schedule, zone, after)
        times.append(after)
    return times


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        ("daily", at(2024, 3, 5, 13, 20), at(2024, 3, 6)),
        ("daily", at(2024, 3, 6), at(2024, 3, 7)),  # exactly midnight: the next one
        ("daily", at(2023, 12, 31, 23, 59, 59), at(2024, 1, 1)),
        ("daily", at(2024, 2, 28, 12), at(2024, 2, 29)),  # leap year
        ("daily", at(2023, 2, 28, 12), at(2023, 3, 1)),
        ("weekly", at(2024, 3, 6, 9), at(2024, 3, 11)),  # Wednesday -> Monday
        ("weekly", at(2024, 3, 11), at(2024, 3, 18)),  # Monday midnight -> next Monday
        ("weekly", at(2024, 3, 10, 23, 59), at(2024, 3, 11)),  # Sunday night
        ("monthly", at(2024, 1, 31, 10), at(2024, 2, 1)),
        ("monthly", at(2024, 2, 1), at(2024, 3, 1)),
        ("monthly", at(2024, 12, 15), at(2025, 1, 1)),
    ],
)
def test_named_schedules_fire_at_the_next_midnight_monday_or_first(
    schedule: str, now: datetime, expected: datetime
) -> None:
    assert next_run(schedule, "UTC", now) == expected


def test_named_schedules_are_read_in_the_crons_time_zone() -> None:
    now = at(2024, 7, 1, 12)

    daily = next_run("daily", "Europe/London", now)
    monthly = next_run("monthly", "America/New_York", now)

    assert daily == at(2024, 7, 1, 23)  # midnight BST
    assert monthly == at(2024, 8, 1, 4)  # midnight EDT


@pytest.mark.parametrize(
    ("expression", "now", "expected"),
    [
        ("* * * * *", at(2024, 1, 1, 10, 0, 30), [at(2024, 1, 1, 10, 1), at(2024, 1, 1, 10, 2)]),
        ("5 * * * *", at(2024, 1, 1, 10, 5), [at(2024, 1, 1, 11, 5), at(2024, 1, 1, 12, 5)]),
        ("0 3 * * *", at(2024, 1, 1, 4), [at(2024, 1, 2, 3), at(2024, 1, 3, 3)]),
        ("*/20 * * * *", at(2024, 1, 1, 10, 1), [at(2024, 1, 1, 10, 20), at(2024, 1, 1, 10, 40)]),
        ("10-12 0 * * *", at(2024, 1, 1), [at(2024, 1, 1, 0, 10), at(2024, 1, 1, 0, 11)]),
        ("0-30/15 0 * * *", at(2024, 1, 1), [at(2024, 1, 1, 0, 15), at(2024, 1, 1, 0, 30)]),
        ("50/5 0 * * *", at(2024, 1, 1), [at(2024, 1, 1, 0, 50), at(2024, 1, 1, 0, 55)]),
        ("0 8,17 * * *", at(2024, 1, 1, 9), [at(2024, 1, 1, 17), at(2024, 1, 2, 8)]),
        ("0 0 31 * *", at(2024, 1, 31, 1), [at(2024, 3, 31), at(2024, 5, 31)]),  # month ends
        ("0 0 29 2 *", at(2023, 1, 1), [at(2024, 2, 29), at(2028, 2, 29)]),  # leap years
        ("0 0 1 jan,JUL *", at(2024, 2, 1), [at(2024, 7, 1), at(2025, 1, 1)]),
        ("0 0 1 6-8 *", at(2024, 7, 2), [at(2024, 8, 1), at(2025, 6, 1)]),
        ("0 0 * * 0", at(2024, 3, 6), [at(2024, 3, 10), at(2024, 3, 17)]),  # Sunday = 0
        ("0 0 * * 7", at(2024, 3, 6), [at(2024, 3, 10), at(2024, 3, 17)]),  # Sunday = 7
        ("0 0 * * mon-fri", at(2024, 3, 8, 1), [at(2024, 3, 11), at(2024, 3, 12)]),
        ("0 0 * * sat,sun", at(2024, 3, 6), [at(2024, 3, 9), at(2024, 3, 10)]),
        ("0 0 */10 * *", at(2024, 1, 2), [at(2024, 1, 11), at(2024, 1, 21)]),
        # Both day fields restricted: either one matches (the 13th, or a Friday).
        ("0 0 13 * 5", at(2024, 9, 1), [at(2024, 9, 6), at(2024, 9, 13)]),
    ],
)
def test_cron_expression_fields(expression: str, now: datetime, expected: list[datetime]) -> None:
    assert runs(expression, now, len(expected)) == expected


def test_a_skipped_local_time_fires_once_at_the_next_valid_instant_in_new_york() -> None:
    # 2024-03-10: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 does not exist.
    start = at(2024, 3, 9, 12)

    times = runs("30 2 * * *", start, 3, "America/New_York")

    assert times == [at(2024, 3, 10, 7), at(2024, 3, 11, 6, 30), at(2024, 3, 12, 6, 30)]


def test_every_skipped_minute_fires_once_in_total_in_london() -> None:
    # 2024-03-31: 01:00 GMT jumps to 02:00 BST; 01:00-01:59 do not exist.
    start = at(2024, 3, 31, 0, 45)

    times = runs("*/15 * * * *", start, 3, "Europe/London")

    assert times == [at(2024, 3, 31, 1, 0), at(2024, 3, 31, 1, 15), at(2024, 3, 31, 1, 30)]


def test_a_repeated_local_time_fires_once_in_new_york() -> None:
    # 2024-11-03: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    start = at(2024, 11, 2, 12)

    times = runs("30 1 * * *", start, 3, "America/New_York")

    assert times == [at(2024, 11, 3, 5, 30), at(2024, 11, 4, 6, 30), at(2024, 11, 5, 6, 30)]


def test_a_repeated_hour_fires_each_wall_time_once_in_london() -> None:
    # 2024-10-27: 02:00 BST falls back to 01:00 GMT; 01:00-01:59 happen twice.
    start = at(2024, 10, 27, 0, 10)  # 01:10 BST

    times = runs("40 * * * *", start, 3, "Europe/London")

    assert times == [at(2024, 10, 27, 0, 40), at(2024, 10, 27, 2, 40), at(2024, 10, 27, 3, 40)]


def test_daily_across_clock_changes_stays_at_local_midnight() -> None:
    times = runs("daily", at(2024, 3, 30, 12), 2, "Europe/London")

    assert times == [at(2024, 3, 31, 0), at(2024, 3, 31, 23)]


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "hourly",
        "@daily",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "5-1 * * * *",
        "*/0 * * * *",
        "*/x * * * *",
        "1,,2 * * * *",
        "a * * * *",
        "* * * foo *",
        "-1 * * * *",
        "0 0 30 2 *",  # never happens
        "0 0 31 4,6 *",
    ],
)
def test_invalid_schedules_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        Schedule.parse(expression)

    assert schedule_errors(expression, "UTC") == {"schedule": [SCHEDULE_INVALID]}


@pytest.mark.parametrize("zone", ["", "Mars/Olympus", "utc ", "../etc/passwd", "localtime"])
def test_invalid_time_zones_are_refused(zone: str) -> None:
    assert schedule_errors("daily", zone) == {"timezone": [TIMEZONE_INVALID]}


def test_schedule_and_zone_errors_are_reported_together() -> None:
    errors = schedule_errors("nope", "Nowhere/Town")

    assert errors == {"schedule": [SCHEDULE_INVALID], "timezone": [TIMEZONE_INVALID]}
