"""The worker: notices builds, claims them while it has free slots, runs them, passes kills.

It follows the event log for new builds and kill requests (LISTEN on the event store's
channel, then it reads the new notifications of its topics), so a queued build is claimed
within a fraction of a second and a kill reaches its job within one. A sweep of the builds
read model every few seconds finds what the log cannot tell it about: builds submitted
while it was away, builds it had no free slot for, and running builds whose worker died
(their lease ran out). Claiming is a command on the Build aggregate, so of any number of
workers exactly one runs a build.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from application.core import Outcome, utcnow
from application.execution import RunPlan
from application.ports import BlobStore, Leases
from application.quotas import Quota
from domain.builds import Build, BuildStatus
from domain.origin import Origin
from infrastructure.drivers import DriverFactory
from infrastructure.worker.claim import ExecutionApp
from infrastructure.worker.execution import BuildLogStore, BuildRun, RunContext
from projections.follower_positions import PositionReport
from projections.followers import GapWatch
from projections.maintenance import Status, position_status
from projections.usage import ReadModelStorageUsage

log = logging.getLogger("marid.worker")
TOPICS = (get_topic(Build.Submitted), get_topic(Build.KillRequested))
MAX_WANTED = 1000  # builds remembered from the log while every slot is busy; the sweep finds more
RETRY_INTERVAL = 1.0
LISTEN_TICK = 0.5  # seconds between checks for a stop while the log is quiet
LOG_BATCH = 500


class WorkerApp(ExecutionApp, Protocol):
    recorder: Any  # eventsourcing's PostgresApplicationRecorder (its channel, notifications)
    mapper: Any
    leases: Leases

    def claim_build(
        self, build_id: int, worker: str, lease: timedelta, origin: Origin
    ) -> Outcome[RunPlan | None]: ...

    def lease_now(self) -> datetime: ...


class Claimable(Protocol):
    def claimable(self, drivers: Sequence[str], now: datetime, limit: int) -> list[int]: ...


@dataclass(frozen=True)
class WorkerConfig:
    name: str  # `host:pid` by default; recorded in every event as `system:worker:<name>`
    parallelism: int = 2
    timeout: timedelta = timedelta(minutes=30)
    lease: timedelta = timedelta(seconds=30)
    sweep_interval: float = 2.0  # seconds between read-model sweeps
    user_quota: int | None = None  # bytes each build owner may keep (MARID_USER_QUOTA)


class Worker:
    """Runs up to `parallelism` builds at once, each on a thread of its own."""

    def __init__(
        self,
        app: WorkerApp,
        builds: Claimable,
        blobs: BlobStore,
        logs: BuildLogStore,
        drivers: Mapping[str, DriverFactory],
        config: WorkerConfig,
        conninfo: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.app = app  # its `leases` (bootstrap wires PostgreSQL's) hold the claims' heartbeats
        self.conninfo = conninfo
        self.builds = builds
        self.drivers = dict(drivers)
        self.config = config
        self.clock = clock
        self.origin = Origin.system(f"worker:{config.name}")
        datastore = app.recorder.datastore
        self.context = RunContext(
            app,
            blobs,
            logs,
            self.origin,
            lease=config.lease,
            timeout=config.timeout,
            quota=Quota(config.user_quota, ReadModelStorageUsage(datastore)),
        )
        self.runs: dict[int, BuildRun] = {}
        self._lock = threading.Lock()
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._woken: threading.Event | None = None  # set to wake the log follower
        self._threads: list[threading.Thread] = []
        self._run_threads: dict[int, threading.Thread] = {}
        self.position = 0  # the last notification of its topics it followed
        self.gaps: GapWatch | None = None
        # The position for other processes (`projections status`, `/metrics`), batched.
        self.report = PositionReport(app.recorder.datastore, self.follower_name, TOPICS)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def follower_name(self) -> str:
        return f"worker:{self.name}"

    def status(self) -> Status:
        """How far it has followed the log, as this process knows (others read `report`)."""
        datastore = self.app.recorder.datastore
        return position_status(self.app, datastore, self.follower_name, self.position, TOPICS)  # type: ignore[arg-type]  # WorkerApp is a protocol of the Application

    def start(self) -> None:
        if self._threads:
            return
        for target, name in ((self._listen, "worker-listen"), (self._dispatch, "worker-claim")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "worker %s started: drivers %s, %s at once, timeout %s, lease %s",
            self.name,
            ", ".join(self.drivers),
            self.config.parallelism,
            self.config.timeout,
            self.config.lease,
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming; stop running jobs and abandon their builds (their leases run out
        and another worker runs them again, tagged `orphaned`)."""
        self._stopping.set()
        self._wake.set()
        woken = self._woken
        if woken is not None:
            woken.set()  # the log follower stops now, not at its next tick
        deadline = time.monotonic() + timeout
        for thread in self._threads:  # first, so that no claim starts a run meanwhile
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        with self._lock:
            runs = list(self.runs.values())
            threads = list(self._run_threads.values())
        for run in runs:
            run.cancel.set("shutdown")
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.gaps is not None:
            self.gaps.close()
        self.report.stop(self.position)

    # --- noticing builds -----------------------------------------------------------------

    def _listen(self) -> None:
        """Follow the event log: woken by the process's one LISTEN connection (see
        infrastructure.event_log), read what was appended since the last position."""
        position: int | None = None
        while not self._stopping.is_set():
            try:
                with self.app.recorder.wakeups.listening() as woken:
                    self._woken = woken
                    if position is None:  # builds before now are the sweep's
                        # The horizon, not the head: ids below the head may still commit
                        # (a kill request among them must reach this worker).
                        horizon = getattr(self.app.recorder, "horizon", None)
                        position = horizon() if horizon else self.app.recorder.max_notification_id()
                        position = position or 0
                        self.position = position
                        self.gaps = GapWatch(
                            self.app.recorder.datastore,
                            self.app.recorder.events_table_name,
                            self.follower_name,
                            position,
                        )
                    while not self._stopping.is_set():
                        woken.clear()
                        position = self._read_log(position)
                        self.report.note(position)
                        woken.wait(LISTEN_TICK)
            except Exception:
                log.exception("worker %s lost the event log; following it again", self.name)
            self._stopping.wait(RETRY_INTERVAL)

    def _read_log(self, position: int) -> int:
        """Handle the builds and kill requests after `position`; the new position."""
        while True:
            batch = self.app.recorder.select_notifications(
                start=position, limit=LOG_BATCH, topics=TOPICS, inclusive_of_start=False
            )
            for notification in batch:
                self._notice(notification)
                position = notification.id
            self.position = position
            if self.gaps is not None:  # one check per batch at most
                self.gaps.observe(position)
            if len(batch) < LOG_BATCH:
                return position

    def _notice(self, notification: Notification) -> None:
        event = self.app.mapper.to_domain_event(notification)
        if isinstance(event, Build.Submitted):
            if event.driver.get("type") in self.drivers:
                with self._lock:
                    self._wanted[event.public_id] = None
                    while len(self._wanted) > MAX_WANTED:
                        self._wanted.popitem(last=False)
                self._wake.set()
        elif isinstance(event, Build.KillRequested):
            with self._lock:
                runs = [
                    r
                    for r in self.runs.values()
                    if Build.create_id(r.build_id) == event.originator_id
                ]
            for run in runs:
                run.cancel.set(BuildStatus.KILLED)

    # --- claiming --------------------------------------------------------------------------

    def _dispatch(self) -> None:
        next_sweep = 0.0
        while not self._stopping.is_set():
            self._wake.wait(max(0.0, next_sweep - time.monotonic()))
            self._wake.clear()
            try:
                self._claim_wanted()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.config.sweep_interval
                    self._sweep()
            except Exception:  # e.g. the database is briefly away: try again
                log.exception("worker %s failed to claim builds", self.name)
                self._stopping.wait(RETRY_INTERVAL)

    def _free(self) -> int:
        with self._lock:
            return self.config.parallelism - len(self.runs)

    def _claim_wanted(self) -> None:
        while self._free() > 0 and not self._stopping.is_set():
            with self._lock:
                if not self._wanted:
                    return
                build_id, _ = self._wanted.popitem(last=False)
            self._try(build_id)

    def _sweep(self) -> None:
        for factory in self.drivers.values():  # e.g. containers of dead workers (docker)
            remove_leftovers = getattr(factory, "remove_leftovers", None)
            if remove_leftovers is not None:
                remove_leftovers()
        free = self._free()
        if free <= 0:
            return
        # More than the free slots: other workers may take some of the oldest first.
        for build_id in self.builds.claimable(list(self.drivers), self.app.lease_now(), free * 4):
            if self._free() <= 0 or self._stopping.is_set():
                return
            self._try(build_id)

    def _try(self, build_id: int) -> None:
        with self._lock:
            if build_id in self.runs:
                return
        try:
            plan = self.app.claim_build(build_id, self.name, self.config.lease, self.origin).value
        except Exception:
            log.exception("worker %s could not claim build %s", self.name, build_id)
            return
        if plan is None:
            return  # another worker has it, or it ended
        factory = self.drivers.get(plan.driver.get("type", ""))
        if factory is None:  # claimable() filters by driver, so only a changed setting
            log.error("build %s needs driver %s", build_id, plan.driver.get("type"))
            self.app.finish_build(build_id, plan.claim, BuildStatus.FAILED, self.origin)
            return
        run = BuildRun(plan, self.context, factory)
        thread = threading.Thread(target=self._execute, args=(run,), name=f"build-{build_id}")
        with self._lock:
            self.runs[build_id] = run
            self._run_threads[build_id] = thread
        log.info("worker %s claimed build %s%s", self.name, build_id, " (orphaned)" * plan.orphaned)
        thread.start()

    def _execute(self, run: BuildRun) -> None:
        try:
            status = run.execute()
            log.info("build %s ended: %s", run.build_id, status or "abandoned")
        except Exception:
            log.exception("build %s: the worker failed", run.build_id)
        finally:
            with self._lock:
                self.runs.pop(run.build_id, None)
                self._run_threads.pop(run.build_id, None)
            self._wake.set()  # a slot is free
