"""Running one claimed build: setup, the stages in order, and the end of the run.

The setup stage's `create-driver` job makes the driver's environment and places the
build's objects and SSH keys; `clone.N` jobs and the manifest's jobs follow, stage by
stage. The first failing job of a stage that may not fail stops the build (`failed`); a
failing job in an `allow_failures` stage ends `passed_with_failures` and so does the build,
unless something worse happens. A kill or the timeout stops the running job's processes
and ends the build `killed` or `timed_out`; the Build aggregate gives every job that had
not ended the same status.

Every command names the build's claim (`claim.HeldClaim`). `LostClaim` means another
worker holds the build now: its processes are stopped and the run is abandoned with no
further command or output. Objects, keys and artifacts move through `files`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from application.execution import RunJob, RunPlan
from application.ports import BlobInfo, BlobStore
from application.quotas import NO_QUOTA, Quota
from domain.builds import BuildStatus
from domain.origin import Origin
from infrastructure.drivers import Cancel, Driver, DriverError, DriverFactory, job_script
from infrastructure.worker.claim import Abandoned, ExecutionApp, HeldClaim
from infrastructure.worker.files import collect_artifacts, install_keys, place_objects
from infrastructure.worker.output import LogStream, OutputStore, Turn

log = logging.getLogger("marid.worker")
STOPPED = (BuildStatus.KILLED, BuildStatus.TIMED_OUT)  # reasons to stop that end the build


class BuildLogStore(OutputStore, Protocol):
    def clear(self, build_id: int) -> None: ...


@dataclass(frozen=True)
class RunContext:
    """What every run of one worker shares."""

    app: ExecutionApp
    blobs: BlobStore
    logs: BuildLogStore
    origin: Origin
    lease: timedelta
    timeout: timedelta
    quota: Quota = NO_QUOTA  # of the build owners' storage, for artifacts


class BuildRun:
    """One claimed build from start to finish (or abandonment), on the calling thread."""

    def __init__(self, plan: RunPlan, context: RunContext, factory: DriverFactory) -> None:
        self.plan = plan
        self.ctx = context
        self.factory = factory
        self.cancel = Cancel()
        self.held = HeldClaim(context.app, plan.build_id, plan.claim, context.origin, self.cancel)
        self.status: BuildStatus | None = None  # the status it ended with; None if abandoned
        self._done = threading.Event()
        self._secrets = plan.masked_values
        self._turn = Turn()  # the build's streams in the order written: its log
        self._can_fail = {s["name"]: bool(s["can_fail"]) for s in plan.stages}

    @property
    def build_id(self) -> int:
        return self.plan.build_id

    def execute(self) -> BuildStatus | None:
        plan = self.plan
        try:
            if plan.orphaned:
                self.ctx.logs.clear(plan.build_id)  # it starts again from nothing
            if plan.kill_requested:
                return self._finish(BuildStatus.KILLED)
            return self._execute()
        except Abandoned:
            log.info("build %s abandoned (%s)", plan.build_id, self.cancel.reason)
            return None
        finally:
            self._done.set()

    def _execute(self) -> BuildStatus:
        keeper = threading.Thread(
            target=self.held.keep_lease,
            args=(self.ctx.lease, self._done),
            name=f"lease-{self.build_id}",
            daemon=True,
        )
        keeper.start()
        timeout = self.ctx.timeout.total_seconds()
        timer = threading.Timer(timeout, self.cancel.set, (BuildStatus.TIMED_OUT,))
        timer.daemon = True
        timer.start()
        build_log = self._stream(0)
        try:
            status = self._run_in_driver(build_log)
        finally:
            timer.cancel()
            self._done.set()  # stops the lease keeper: the run is over
            keeper.join()
        if self.held.abandoned:
            raise Abandoned()
        build_log.line(f"Build {status}")
        build_log.close()
        return self._finish(status)

    def _run_in_driver(self, build_log: LogStream) -> BuildStatus:
        """Run the jobs in a fresh driver, always destroyed; the build's status."""
        driver: Driver | None = None
        try:
            for_build = getattr(self.factory, "for_build", None)  # see infrastructure.drivers
            plan = self.plan
            if for_build is not None:
                driver = for_build(plan.driver, plan.owner_id, plan.namespace_id)
            else:
                driver = self.factory(plan.driver)
            status = self._run(driver, build_log)
        except Abandoned:
            raise
        except Exception as exc:  # a fault of ours or of the environment: the build fails
            log.exception("build %s failed in the worker", self.build_id)
            build_log.line(f"Internal error: {exc}")
            status = BuildStatus.FAILED
        finally:
            if driver is not None:
                _destroy(driver, self.build_id)
        if self.cancel.reason in STOPPED:
            return BuildStatus(self.cancel.reason)
        return status

    # --- the run -------------------------------------------------------------------------

    def _run(self, driver: Driver, build_log: LogStream) -> BuildStatus:
        setup, *jobs = self.plan.jobs
        if not self._setup(setup, driver):
            return BuildStatus.FAILED
        env = self._env(driver)
        status = BuildStatus.PASSED
        for stage in self.plan.stages:
            for job in (j for j in jobs if j.stage == stage["name"]):
                if self.cancel.is_set():
                    return status
                result = self._job(job, driver, env, build_log)
                if result is None:
                    return status  # cancelled while it ran
                if result == BuildStatus.FAILED:
                    return result
                if result == BuildStatus.PASSED_WITH_FAILURES:
                    status = result
        return status

    def _setup(self, job: RunJob, driver: Driver) -> bool:
        """`create-driver`: make the environment, place objects and keys (its lines are the
        start of the build's log too)."""
        job_log = self._stream(job.id)
        self.held.command(self.ctx.app.start_job, job.id)
        try:
            try:
                driver.create(job_log.line)
            except (DriverError, OSError) as exc:
                job_log.line(f"Failed to create driver: {exc}")
                job_log.close()
                self.held.command(self.ctx.app.finish_job, job.id, BuildStatus.FAILED)
                return False
            place_objects(driver, self.plan.objects, self.ctx.blobs, job_log.line)
            install_keys(driver, self.plan.keys, job_log.line)
        finally:
            job_log.close()  # what is buffered is kept, whatever went wrong
        if self.cancel.is_set():
            return True  # the caller ends the build with the reason
        self.held.command(self.ctx.app.finish_job, job.id, BuildStatus.PASSED)
        return True

    def _job(
        self, job: RunJob, driver: Driver, env: dict[str, str], build_log: LogStream
    ) -> BuildStatus | None:
        """Run one job; its status, or None when the build was stopped meanwhile."""
        if not job.commands:
            self.held.command(self.ctx.app.finish_job, job.id, BuildStatus.PASSED)
            return BuildStatus.PASSED
        output = self._stream(job.id)
        self.held.command(self.ctx.app.start_job, job.id)
        build_log.line(f"Running job {job.name}...")
        try:
            code = driver.run(job_script(job.commands), env, output.write, self.cancel)
        except Exception as exc:  # the connection dropped, the disk is full, ...
            log.warning("build %s job %s: driver error: %s", self.build_id, job.name, exc)
            output.line(f"Driver error: {exc}")
            code = -1
        output.end_of_input()  # before any line of marid's in the build's log
        if self.cancel.is_set():
            output.close()
            return None
        try:
            self._collect(job, driver, output, build_log)
        finally:
            output.close()
        status = BuildStatus.PASSED
        if code != 0:
            can_fail = self._can_fail.get(job.stage)
            status = BuildStatus.PASSED_WITH_FAILURES if can_fail else BuildStatus.FAILED
        self.held.command(self.ctx.app.finish_job, job.id, status)
        ending = "" if code == 0 else f" (exit status {code})"
        build_log.line(f"Job {job.name} {status}{ending}")
        return status

    def _env(self, driver: Driver) -> dict[str, str]:
        env = driver.base_env()
        env.update({key: value for key, value, _ in self.plan.variables})
        if self.plan.keys:
            # ssh reads ~/.ssh of the user's passwd entry, not $HOME: point git at ours.
            env.setdefault("GIT_SSH_COMMAND", f"ssh -F {driver.home}/.ssh/config")
        return env

    def _collect(
        self, job: RunJob, driver: Driver, output: LogStream, build_log: LogStream
    ) -> None:
        def record(artifact_id: int, info: BlobInfo | None) -> None:
            digests = (None, None, None) if info is None else (info.size, info.md5, info.sha256)
            self.held.command(self.ctx.app.record_artifact, artifact_id, *digests)

        blobs = self.ctx.blobs
        room = self.ctx.quota.room(self.plan.owner_id) if job.artifacts else None
        collect_artifacts(
            driver, self.build_id, job, blobs, record, output.line, build_log.line, room
        )

    def _finish(self, status: BuildStatus) -> BuildStatus:
        self.held.command(self.ctx.app.finish_build, status)
        self.status = status
        return status

    def _stream(self, job_id: int) -> LogStream:
        return LogStream(
            self.ctx.logs,
            self.build_id,
            job_id,
            self._secrets,
            muted=lambda: self.held.abandoned,
            turn=self._turn,
        )


def _destroy(driver: Driver, build_id: int) -> None:
    try:
        driver.destroy()
    except Exception:  # cleanup must not hide the build's outcome
        log.exception("destroying the driver of build %s failed", build_id)
