"""The cron scheduler: an APScheduler job that fires the crons due, every second.

Each tick reads the due crons from the read model, so crons created, changed or deleted
while it runs are seen without a restart. Firing is guarded by the Cron aggregate, so any
number of schedulers (in one process or many) fire each due time exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from application.app import MaridApplication
from application.ports import BuildInputs
from projections.crons import CronQueries

if TYPE_CHECKING:  # imported in start(): only processes that fire crons need it
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("marid.scheduler")
BATCH = 1000


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

    def start(self) -> None:
        if self._scheduler is not None:
            return
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.add_job(
            self._job,
            IntervalTrigger(seconds=self.interval, timezone=UTC),
            id="marid-crons",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC),
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info("cron scheduler started")

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
