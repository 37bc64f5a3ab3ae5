"""The cron scheduler's job: ticks that outlast the interval neither overlap nor warn."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from infrastructure.scheduler import CronScheduler


class SlowCrons:
    """CronQueries whose first pass outlasts many intervals, as after a restart."""

    def __init__(self, passes: int) -> None:
        self.passes = passes
        self.calls = 0
        self.running = 0
        self.overlapped = False
        self.done = threading.Event()
        self._lock = threading.Lock()

    def due(self, now: datetime, limit: int) -> list[Any]:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.overlapped |= self.running > 1
            first = self.calls == 1
        if first:
            self.done.wait(0.5)  # ten intervals long: the next tick is due long before
        with self._lock:
            self.running -= 1
            if self.calls >= self.passes:
                self.done.set()
        return []


def test_tick_longer_than_interval_runs_again_without_max_instances_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crons = SlowCrons(passes=3)
    scheduler = CronScheduler(
        app=None,  # type: ignore[arg-type]  # no cron is due, so nothing is fired
        crons=crons,  # type: ignore[arg-type]
        inputs=None,  # type: ignore[arg-type]
        drivers=(),
        clock=lambda: datetime.now(UTC),
        interval=0.05,
    )
    caplog.set_level(logging.DEBUG, logger="apscheduler")

    scheduler.start()
    try:
        finished = crons.done.wait(10)
    finally:
        scheduler.stop()

    assert finished
    assert crons.calls >= 3
    assert not crons.overlapped
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in messages if "maximum number of running instances" in m]
    assert not [m for m in messages if "missed" in m]
