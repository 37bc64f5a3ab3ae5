"""The Cron aggregate: a manifest submitted as a build on a schedule.

Each firing is a command for one specific due time, valid only while that time is the
cron's `next_run`: the aggregate's version lets exactly one of any number of concurrent
schedulers record it, and so submit its build.
"""

from __future__ import annotations

from dataclasses import InitVar
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from domain.aggregates import Assigns
from domain.errors import DomainError, Errors
from domain.origin import Origin
from domain.resources import NamespacedResource
from domain.schedules import next_run, schedule_errors


class CronNotDueError(DomainError):
    """Raised when a firing names a due time that is not the cron's pending one."""

    def __init__(self, cron_id: int, due: datetime) -> None:
        super().__init__(f"cron {cron_id} is not due at {due.isoformat()}")
        self.cron_id = cron_id
        self.due = due


def validate_cron(errors: Errors, name: str | None, schedule: str, timezone: str) -> None:
    """Add every rule a cron's own fields break (the manifest is checked elsewhere)."""
    if not name:
        errors.add("name", "Name field required")
    for failed, messages in schedule_errors(schedule, timezone).items():
        errors.extend(failed, messages)


class Cron(NamespacedResource):
    """A named schedule and manifest; `next_run` is always in the future when saved."""

    KIND = "cron"

    name: str
    schedule: str
    timezone: str
    manifest: str
    next_run: datetime
    origin: InitVar[Origin]

    class Created(NamespacedResource.Created):
        name: str
        schedule: str
        timezone: str
        manifest: str
        next_run: datetime
        origin: Origin

    class Updated(Assigns):
        owner_id: int
        namespace_id: int | None
        name: str
        schedule: str
        timezone: str
        manifest: str
        next_run: datetime
        origin: Origin

    class Fired(Aggregate.Event):
        due: datetime
        fired_at: datetime
        build_id: int
        next_run: datetime
        origin: Origin

    class FiringFailed(Aggregate.Event):
        due: datetime
        failed_at: datetime
        error: str
        next_run: datetime
        origin: Origin

    class Deleted(NamespacedResource.Deleted):
        pass

    def __post_init__(self, origin: Origin) -> None:
        """It has not run yet."""
        self.prev_run: datetime | None = None
        self.last_error: str | None = None

    def update(
        self,
        owner_id: int,
        namespace_id: int | None,
        name: str,
        schedule: str,
        timezone: str,
        manifest: str,
        now: datetime,
        origin: Origin,
    ) -> None:
        """Change the cron; `next_run` is recomputed from `now`."""
        self.trigger_event(
            self.Updated,
            owner_id=owner_id,
            namespace_id=namespace_id,
            name=name,
            schedule=schedule,
            timezone=timezone,
            manifest=manifest,
            next_run=next_run(schedule, timezone, now),
            origin=origin,
        )

    def check_due(self, due: datetime, now: datetime) -> None:
        """Raise CronNotDueError unless `due` is the pending run and has come."""
        if self.deleted or due != self.next_run or due > now:
            raise CronNotDueError(self.public_id, due)

    def fire(self, due: datetime, now: datetime, build_id: int, origin: Origin) -> None:
        """Record the firing for `due`; missed periods are skipped, not fired one by one."""
        self._fired(due, now, build_id, self._run_after(due, now), origin)

    def failed(self, due: datetime, now: datetime, error: str, origin: Origin) -> None:
        """Record that firing for `due` failed; the cron waits for its next time."""
        self._firing_failed(due, now, error, self._run_after(due, now), origin)

    def _run_after(self, due: datetime, now: datetime) -> datetime:
        """The run after `due`, counted from `now`; `due` must be pending and have come."""
        self.check_due(due, now)
        return next_run(self.schedule, self.timezone, now)

    @event(Fired)
    def _fired(
        self, due: datetime, fired_at: datetime, build_id: int, next_run: datetime, origin: Origin
    ) -> None:
        self._ran(fired_at, next_run, None)

    @event(FiringFailed)
    def _firing_failed(
        self, due: datetime, failed_at: datetime, error: str, next_run: datetime, origin: Origin
    ) -> None:
        self._ran(failed_at, next_run, error)

    def _ran(self, at: datetime, next_run: datetime, error: str | None) -> None:
        self.prev_run = at
        self.next_run = next_run
        self.last_error = error
