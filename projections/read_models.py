"""Read-your-writes: waiting until the read models of a process hold given events.

Writers wait (`ReadModels.settle`) until their events are in every read model that
subscribes to them, so a client reads its own writes. The wait is bounded: past it a
warning names the read model and how far behind it is, and `settle` raises
`NotSettledError` (the API answers 503), since the write succeeded but cannot be read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Recording
from eventsourcing.projection import Projection

from projections.base import View

if TYPE_CHECKING:
    from projections.runner import Runner

log = logging.getLogger("marid.projections")


@dataclass(frozen=True)
class Lag:
    """A read model that had not processed a notification when a bounded wait ended."""

    read_model: str
    target: int  # the notification id waited for
    position: int  # the last one the read model had processed
    timeout: float  # seconds waited

    def warn(self) -> None:
        log.warning(
            "read model %s did not reach notification %s within %ss: it is at %s, "
            "%s notifications behind",
            self.read_model,
            self.target,
            self.timeout,
            self.position,
            self.target - self.position,
        )


class NotSettledError(Exception):
    """Raised when a write was saved but a read model did not process it within the wait
    bound: the write cannot be read back yet."""

    def __init__(self, lag: Lag) -> None:
        super().__init__(
            f"read model {lag.read_model} is at notification {lag.position}, "
            f"not yet at {lag.target}"
        )
        self.lag = lag


class ReadModels:
    """The views of one process, the runners it started, and read-your-writes waiting."""

    def __init__(self, app: Application[UUID], projections: Iterable[Projection[View]]) -> None:
        self.app = app
        self.views = {p.name: p.view for p in projections}
        self._topics = {p.name: set(p.topics) for p in projections}
        self.runners: dict[str, Runner] = {}

    def attach(self, runner: Runner) -> None:
        """Wait on a runner of this process instead of polling the tracking table."""
        self.runners[runner.name] = runner

    def targets(self, recordings: Iterable[Recording[UUID]]) -> dict[str, int]:
        """For each projection, the last of these notifications it must process."""
        targets: dict[str, int] = {}
        for recording in recordings:
            topic, nid = recording.notification.topic, recording.notification.id
            for name, topics in self._topics.items():
                if topic in topics:
                    targets[name] = max(targets.get(name, 0), nid)
        return targets

    def wait_for(self, recordings: Iterable[Recording[UUID]], timeout: float = 10.0) -> bool:
        """Block until every read model that subscribes to these events has processed them;
        whether they all did within `timeout` (a warning says which did not)."""
        lag = self.lag_after(recordings, timeout)
        if lag is not None:
            lag.warn()
        return lag is None

    def wait_until(self, name: str, notification_id: int, timeout: float) -> bool:
        """Block until projection `name` has processed every event of its topics up to
        `notification_id`; whether it did within `timeout`."""
        return self.lag_until(name, notification_id, timeout) is None

    def settle(self, recordings: Iterable[Recording[UUID]], timeout: float) -> None:
        """`wait_for`, raising `NotSettledError` (after a warning) when a read model lags."""
        lag = self.lag_after(recordings, timeout)
        if lag is not None:
            lag.warn()
            raise NotSettledError(lag)

    def settle_until(self, name: str, notification_id: int, timeout: float) -> None:
        """`wait_until`, raising `NotSettledError` (after a warning) when `name` lags."""
        lag = self.lag_until(name, notification_id, timeout)
        if lag is not None:
            lag.warn()
            raise NotSettledError(lag)

    def lag_after(self, recordings: Iterable[Recording[UUID]], timeout: float) -> Lag | None:
        """Wait as `wait_for` does; the first read model still behind at the deadline."""
        deadline = time.monotonic() + timeout
        for name, nid in self.targets(recordings).items():
            if not self._wait(name, nid, deadline):
                return Lag(name, nid, self.position(name), timeout)
        return None

    def lag_until(self, name: str, notification_id: int, timeout: float) -> Lag | None:
        """Wait as `wait_until` does; how far `name` is behind at the deadline, if it is."""
        last = self._last_relevant(name, notification_id)
        if last is None or self._wait(name, last, time.monotonic() + timeout):
            return None
        return Lag(name, last, self.position(name), timeout)

    def position(self, name: str) -> int:
        """The last notification id read model `name` has processed, as far as this
        process can tell (its own leading runner, else the tracking table)."""
        runner = self.runners.get(name)
        if runner is not None and runner.is_leader:
            return runner.position
        return self.views[name].max_tracking_id(self.app.name) or 0

    def _last_relevant(self, name: str, before: int) -> int | None:
        view = self.views[name]
        with view.datastore.get_connection() as conn:  # one statement: no BEGIN/ROLLBACK
            row = conn.execute(
                f"SELECT max(notification_id) AS id FROM {self.app.name.lower()}_events "
                "WHERE notification_id <= %s AND topic = ANY(%s)",
                (before, list(self._topics[name])),
            ).fetchone()
        return None if row is None or row["id"] is None else int(row["id"])

    def _wait(self, name: str, nid: int, deadline: float) -> bool:
        runner = self.runners.get(name)
        view = self.views[name]
        delay = 0.002
        while True:
            if runner is not None and runner.position >= nid:
                return True
            if runner is None or not runner.is_leader:
                current = view.max_tracking_id(self.app.name)
                if current is not None and current >= nid:
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if runner is not None and runner.is_leader:
                runner.wait_local(nid, min(remaining, 0.05))
            else:
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.05)

    def stop(self) -> None:
        """Stop every runner; they wind down in parallel."""
        running = [runner for runner in self.runners.values() if runner.running]
        for runner in running:
            runner.signal_stop()  # wakes it: no NOTIFY needed
        for runner in running:
            runner.join()

    def still_running(self) -> list[str]:
        """The runners that did not stop when asked (a write they wait on, say)."""
        return [name for name, runner in self.runners.items() if runner.running]
