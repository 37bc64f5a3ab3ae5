"""The cron scheduler: an APScheduler job that fires the crons due, every second.

Each tick reads the due crons from the read model, so crons created, changed or deleted
while it runs are seen without a restart. Firing is guarded by the Cron aggregate, so any
number of schedulers (in one process or many) fire each due time exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from application.app import MaridApplication
from application.ports import BuildInputs
from projections.crons import CronQueries

if TYPE_CHECKING:  # imported in start(): only processes that fire crons need it
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("marid.scheduler")
BATCH = 1000
JOB_ID = "marid-crons"


class CronScheduler:
    """Fires due crons; `tick()` is one pass, `start()` runs it every `interval` seconds."""

    def __init__(
        self,
        app: MaridApplication,
        crons: CronQueries,
        inputs: BuildInputs,
        drivers: Collection[str],
        clock: Callable[[], datetime],
        interval: float = 1.0,
    ) -> None:
        self.app = app
        self.crons = crons
        self.inputs = inputs
        self.drivers = drivers
        self.clock = clock
        self.interval = interval
        self._scheduler: BackgroundScheduler | None = None

    def tick(self) -> list[int]:
        """Fire every cron due now; return the ids of the builds this pass submitted."""
        builds: list[int] = []
        for cron_id, due in self.crons.due(self.clock(), BATCH):
            try:
                build_id = self.app.fire_due(cron_id, due, self.inputs, self.drivers).value
            except Exception:  # one cron's failure must not stop the others or the job
                log.exception("firing cron %s due %s failed", cron_id, due.isoformat())
                continue
            if build_id is not None:
                log.info("cron %s fired for %s: build %s", cron_id, due.isoformat(), build_id)
                builds.append(build_id)
        return builds

    def _job(self) -> None:
        try:
            self.tick()
        except Exception:  # e.g. the database is briefly away: try again next tick
            log.exception("scheduler tick failed")
        finally:
            self._schedule_next()

    def _schedule_next(self) -> None:
        """Run the next tick `interval` after this one ended.

        Not an interval trigger: a tick that outlasts the interval (the first after a
        restart fires every cron due meanwhile; the database may be slow) or a clock jump
        made that trigger submit a tick while one still ran, and APScheduler skipped it
        with "maximum number of running instances reached". Chained one-off runs never
        overlap; crons due meanwhile are still fired by the next tick.
        """
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            return
        from apscheduler.triggers.date import DateTrigger

        when = datetime.now(UTC) + timedelta(seconds=self.interval)
        scheduler.add_job(
            self._job,
            DateTrigger(when, timezone=UTC),
            id=JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,  # late (a busy process, a clock jump) still runs
        )

    def start(self) -> None:
        if self._scheduler is not None:
            return
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler = scheduler
        scheduler.start()
        scheduler.add_job(self._job, id=JOB_ID, misfire_grace_time=None)  # once, now
        log.info("cron scheduler started")

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
