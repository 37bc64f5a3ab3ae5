"""Schedule arithmetic: when a cron fires next, in its time zone. Pure: callers pass the time.

A schedule is `daily`, `weekly`, `monthly` or a 5-field cron expression (minute, hour,
day of month, month, day of week; `*`, ranges, steps, lists, month and day names). Times
are read as wall-clock times in the cron's IANA zone. Around clock changes a wall time
the clock skips fires once at the next valid instant, and a repeated one fires once (at
its first occurrence).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

NAMED = {"daily": "0 0 * * *", "weekly": "0 0 * * 1", "monthly": "0 0 1 * *"}
DEFAULT_SCHEDULE = "daily"
DEFAULT_TIMEZONE = "UTC"
SCHEDULE_INVALID = "Schedule invalid schedule"
TIMEZONE_INVALID = "Timezone invalid timezone"
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
MINUTE = timedelta(minutes=1)
SEARCH_YEARS = 9  # a 29 February can be 8 years away (2096 -> 2104)


class ScheduleError(ValueError):
    """Raised when a schedule or time zone cannot be used; the message says why."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, MONTHS),
    _Field("day of week", 0, 7, DAYS),
)


def _value(text: str, spec: _Field) -> int:
    number = spec.names.get(text.lower())
    if number is None:
        if not text.isdigit():
            raise ScheduleError(f"{spec.name}: {text!r} is not a number")
        number = int(text)
    if not spec.low <= number <= spec.high:
        raise ScheduleError(f"{spec.name}: {number} is out of range {spec.low}-{spec.high}")
    return number


def _parse_field(text: str, spec: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{spec.name}: invalid step {step_text!r}")
            step = int(step_text)
        if base == "*":
            low, high = spec.low, spec.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _value(first, spec), _value(last, spec)
            if low > high:
                raise ScheduleError(f"{spec.name}: range {base} is backwards")
        else:
            low = _value(base, spec)
            high = spec.high if slash else low
        values.update(range(low, high + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the allowed values of each field."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # every day of the month allowed: the field does not restrict
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """A named schedule or a 5-field cron expression; else ScheduleError."""
        expression = NAMED.get(text, text)
        parts = expression.split()
        if len(parts) != len(FIELDS):
            raise ScheduleError(f"expected 5 fields, not {len(parts)}")
        values = [_parse_field(p, spec) for p, spec in zip(parts, FIELDS, strict=True)]
        schedule = cls(
            text=text,
            minutes=tuple(sorted(values[0])),
            hours=tuple(sorted(values[1])),
            days=values[2],
            months=values[3],
            weekdays=frozenset(d % 7 for d in values[4]),
            any_day=values[2] == frozenset(range(1, 32)),
            any_weekday={d % 7 for d in values[4]} == set(range(7)),
        )
        if not schedule.any_day and schedule.any_weekday and not schedule._day_exists():
            raise ScheduleError("the day of month never occurs in the months given")
        return schedule

    def _day_exists(self) -> bool:
        longest = {m: calendar.monthrange(2000, m)[1] for m in self.months}  # 2000: leap
        return any(min(self.days) <= longest[m] for m in self.months)

    def matches_date(self, day: date) -> bool:
        """Cron's rule: when both day fields are restricted, either may match."""
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return by_weekday
        if self.any_weekday:
            return by_day
        return by_day or by_weekday

    def next_wall(self, wall: datetime) -> datetime | None:
        """The first matching wall-clock minute at or after `wall` (naive), if any."""
        end = wall.year + SEARCH_YEARS
        while wall.year <= end:
            if wall.month not in self.months:
                year, month = (
                    (wall.year + 1, 1) if wall.month == 12 else (wall.year, wall.month + 1)
                )
                wall = datetime(year, month, 1)
            elif not self.matches_date(wall.date()):
                wall = datetime.combine(wall.date() + timedelta(days=1), datetime.min.time())
            elif wall.hour not in self.hours:
                later = [h for h in self.hours if h > wall.hour]
                if later:
                    wall = wall.replace(hour=later[0], minute=0)
                else:
                    wall = datetime.combine(wall.date() + timedelta(days=1), datetime.min.time())
            elif wall.minute not in self.minutes:
                later = [m for m in self.minutes if m > wall.minute]
                if later:
                    wall = wall.replace(minute=later[0])
                else:
                    wall = wall.replace(minute=0) + timedelta(hours=1)
            else:
                return wall
        return None

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime:
        """The first firing instant strictly after `after`, in UTC."""
        local = after.astimezone(zone).replace(tzinfo=None, fold=0)
        wall: datetime | None = local.replace(second=0, microsecond=0)
        while wall is not None:
            wall = self.next_wall(wall)
            if wall is None:
                break
            instant = _instant(wall, zone)
            if instant > after:
                return instant
            wall += MINUTE  # a repeated or skipped wall time that has already fired
        raise ScheduleError("the schedule never fires")


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall time: its first occurrence, or the next valid instant
    when the clock skipped it."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    instant = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # before the gap
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += MINUTE
    return instant


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # `localtime` and `posixrules` are files of the zone database, not zone names.
    return frozenset((available_timezones() | {"UTC"}) - {"localtime", "posixrules"})


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone by name; anything else is a ScheduleError."""
    if name not in _zone_names():
        raise ScheduleError(f"unknown time zone {name!r}")
    return ZoneInfo(name)


def next_run(schedule: str, timezone: str, after: datetime) -> datetime:
    """When a cron with this schedule and zone fires next, strictly after `after` (UTC)."""
    return Schedule.parse(schedule).next_after(after, parse_zone(timezone))


def schedule_errors(schedule: str, timezone: str) -> dict[str, list[str]]:
    """The 400 field errors of a schedule and time zone, both checked."""
    fields: dict[str, list[str]] = {}
    try:
        Schedule.parse(schedule)
    except ScheduleError:
        fields["schedule"] = [SCHEDULE_INVALID]
    try:
        parse_zone(timezone)
    except ScheduleError:
        fields["timezone"] = [TIMEZONE_INVALID]
    return fields
