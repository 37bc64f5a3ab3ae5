"""Running one claimed build: setup, the stages in order, and the end of the run.

The setup stage's `create-driver` job makes the driver's environment and places the
build's objects and SSH keys; `clone.N` jobs and the manifest's jobs follow, stage by
stage. The first failing job of a stage that may not fail stops the build (`failed`); a
failing job in an `allow_failures` stage ends `passed_with_failures` and so does the build,
unless something worse happens. A kill or the timeout stops the running job's processes
and ends the build `killed` or `timed_out`; the Build aggregate gives every job that had
not ended the same status.

Every command names the build's claim. `LostClaim` means another worker holds the build
now: its processes are stopped and the run is abandoned with no further command or output.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from application.core import Outcome
from application.execution import LostClaim, RunJob, RunPlan
from application.ports import BlobStore
from domain.builds import artifact_blob_key
from domain.origin import Origin
from infrastructure.drivers import Cancel, Driver, DriverError, DriverFactory, job_script
from infrastructure.worker.output import LogStream, OutputStore, Turn

log = logging.getLogger("marid.worker")
T = TypeVar("T")
KEY_DIR = "/root/.ssh"  # where the build snapshot says keys go (Djinn's location)
SSH_OPTIONS = ("StrictHostKeyChecking no", "UserKnownHostsFile /dev/null")
ABANDONED = ("lost", "shutdown")  # reasons to stop without finishing the build


class ExecutionApp(Protocol):
    """The use cases a worker issues while it holds a claim (application/execution.py)."""

    def renew_lease(
        self, build_id: int, claim: str, lease: timedelta, origin: Origin
    ) -> Outcome[bool]: ...
    def start_job(
        self, build_id: int, claim: str, job_id: int, origin: Origin
    ) -> Outcome[None]: ...
    def finish_job(
        self, build_id: int, claim: str, job_id: int, status: str, origin: Origin
    ) -> Outcome[None]: ...
    def record_artifact(
        self,
        build_id: int,
        claim: str,
        artifact_id: int,
        size: int | None,
        md5: str | None,
        sha256: str | None,
        origin: Origin,
    ) -> Outcome[None]: ...
    def finish_build(
        self, build_id: int, claim: str, status: str, origin: Origin
    ) -> Outcome[None]: ...


class BuildLogStore(OutputStore, Protocol):
    def clear(self, build_id: int) -> None: ...


class Abandoned(Exception):  # noqa: N818 - control flow, not a fault
    """Raised inside a run when its claim is gone or the worker stops."""


@dataclass(frozen=True)
class RunContext:
    """What every run of one worker shares."""

    app: ExecutionApp
    blobs: BlobStore
    logs: BuildLogStore
    origin: Origin
    lease: timedelta
    timeout: timedelta


class BuildRun:
    """One claimed build from start to finish (or abandonment), on the calling thread."""

    def __init__(self, plan: RunPlan, context: RunContext, factory: DriverFactory) -> None:
        self.plan = plan
        self.ctx = context
        self.factory = factory
        self.cancel = Cancel()
        self.status: str | None = None  # the status it finished with; None if abandoned
        self._done = threading.Event()
        self._secrets = plan.masked_values
        self._turn = Turn()  # the build's streams in the order written: its log
        self._can_fail = {s["name"]: bool(s["can_fail"]) for s in plan.stages}

    @property
    def build_id(self) -> int:
        return self.plan.build_id

    def execute(self) -> str | None:
        plan = self.plan
        try:
            if plan.orphaned:
                self.ctx.logs.clear(plan.build_id)  # it starts again from nothing
            if plan.kill_requested:
                return self._finish("killed")
            return self._execute()
        except Abandoned:
            log.info("build %s abandoned (%s)", plan.build_id, self.cancel.reason)
            return None
        finally:
            self._done.set()

    def _execute(self) -> str:
        keeper = threading.Thread(
            target=self._keep_lease, name=f"lease-{self.build_id}", daemon=True
        )
        keeper.start()
        timer = threading.Timer(self.ctx.timeout.total_seconds(), self.cancel.set, ("timed_out",))
        timer.daemon = True
        timer.start()
        build_log = self._stream(0)
        try:
            status = self._run_in_driver(build_log)
        finally:
            timer.cancel()
            self._done.set()  # stops the lease keeper: the run is over
            keeper.join()
        if self.cancel.reason in ABANDONED:
            raise Abandoned()
        build_log.line(f"Build {status}")
        build_log.close()
        return self._finish(status)

    def _run_in_driver(self, build_log: LogStream) -> str:
        """Run the jobs in a fresh driver, always destroyed; the build's status."""
        driver: Driver | None = None
        try:
            driver = self.factory(self.plan.driver)
            status = self._run(driver, build_log)
        except Abandoned:
            raise
        except Exception as exc:  # a fault of ours or of the environment: the build fails
            log.exception("build %s failed in the worker", self.build_id)
            build_log.line(f"Internal error: {exc}")
            status = "failed"
        finally:
            if driver is not None:
                _destroy(driver, self.build_id)
        if self.cancel.reason in ("killed", "timed_out"):
            return self.cancel.reason
        return status

    # --- the run -------------------------------------------------------------------------

    def _run(self, driver: Driver, build_log: LogStream) -> str:
        setup, *jobs = self.plan.jobs
        if not self._setup(setup, driver):
            return "failed"
        env = self._env(driver)
        status = "passed"
        for stage in self.plan.stages:
            for job in (j for j in jobs if j.stage == stage["name"]):
                if self.cancel.is_set():
                    return status
                result = self._job(job, driver, env, build_log)
                if result is None:
                    return status  # cancelled while it ran
                if result == "failed":
                    return "failed"
                if result == "passed_with_failures":
                    status = result
        return status

    def _setup(self, job: RunJob, driver: Driver) -> bool:
        """`create-driver`: make the environment, place objects and keys (its lines are the
        start of the build's log too)."""
        job_log = self._stream(job.id)
        self._command(self.ctx.app.start_job, job.id)
        try:
            try:
                driver.create(job_log.line)
            except (DriverError, OSError) as exc:
                job_log.line(f"Failed to create driver: {exc}")
                job_log.close()
                self._command(self.ctx.app.finish_job, job.id, "failed")
                return False
            self._place_objects(driver, job_log.line)
            self._install_keys(driver, job_log.line)
        finally:
            job_log.close()  # what is buffered is kept, whatever went wrong
        if self.cancel.is_set():
            return True  # the caller ends the build with the reason
        self._command(self.ctx.app.finish_job, job.id, "passed")
        return True

    def _job(
        self, job: RunJob, driver: Driver, env: dict[str, str], build_log: LogStream
    ) -> str | None:
        """Run one job; its status, or None when the build was stopped meanwhile."""
        if not job.commands:
            self._command(self.ctx.app.finish_job, job.id, "passed")
            return "passed"
        output = self._stream(job.id)
        self._command(self.ctx.app.start_job, job.id)
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
        failed_status = "passed_with_failures" if self._can_fail.get(job.stage) else "failed"
        status = "passed" if code == 0 else failed_status
        self._command(self.ctx.app.finish_job, job.id, status)
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

    # --- objects, keys, artifacts ----------------------------------------------------------

    def _place_objects(self, driver: Driver, say: Callable[[str], None]) -> None:
        """Place each object at its destination; a failure is reported, not fatal."""
        for obj in self.plan.objects:
            name, destination = obj["name"], obj["destination"]
            try:
                with self.ctx.blobs.open(obj["blob"]) as data:
                    driver.put_file(destination, data)
                say(f"Placed object {name} at {driver.resolve(destination)}")
            except FileNotFoundError:
                say(f"Failed to place object {name} at {destination}: its file is gone")
            except (DriverError, OSError) as exc:
                say(f"Failed to place object {name} at {destination}: {exc}")

    def _install_keys(self, driver: Driver, say: Callable[[str], None]) -> None:
        """Keys go to `<build HOME>/.ssh` (mode 0600) with an ssh config that uses them."""
        if not self.plan.keys:
            return
        key_dir = f"{driver.home}/.ssh"
        config = [*SSH_OPTIONS]
        host_blocks = []
        for key in self.plan.keys:
            path = f"{key_dir}/{key['name']}"
            text = key["key"] if key["key"].endswith("\n") else key["key"] + "\n"
            try:
                driver.put_file(path, io.BytesIO(text.encode()), 0o600)
            except (DriverError, OSError) as exc:
                say(f"Failed to install key {key['name']}: {exc}")
                continue
            say(f"Installed key {key['name']} at {path}")
            config.append(f"IdentityFile {path}")
            if key["config"].strip():
                host_blocks.append(key["config"].replace(KEY_DIR, key_dir).rstrip("\n"))
        text = "\n".join([*config, *host_blocks]) + "\n"
        try:
            driver.put_file(f"{key_dir}/config", io.BytesIO(text.encode()), 0o600)
        except (DriverError, OSError) as exc:
            say(f"Failed to write ssh config: {exc}")

    def _collect(
        self, job: RunJob, driver: Driver, output: LogStream, build_log: LogStream
    ) -> None:
        """Store the job's artifacts; a missing file is recorded (size null) and noted."""
        for artifact in job.artifacts:
            source, key = artifact["source"], artifact_blob_key(self.build_id, artifact["id"])
            try:
                with driver.get_file(source) as chunks:
                    info = self.ctx.blobs.put(key, chunks)
            except (FileNotFoundError, NotADirectoryError):
                output.line(f"Artifact {source} not found, not collected")
                self._command(self.ctx.app.record_artifact, artifact["id"], None, None, None)
                continue
            except (DriverError, OSError) as exc:
                output.line(f"Artifact {source} not collected: {exc}")
                self._command(self.ctx.app.record_artifact, artifact["id"], None, None, None)
                continue
            self._command(
                self.ctx.app.record_artifact, artifact["id"], info.size, info.md5, info.sha256
            )
            build_log.line(f"Collected artifact {source} as {artifact['name']} ({info.size} bytes)")

    # --- claim keeping -----------------------------------------------------------------------

    def _command(self, use_case: Callable[..., Outcome[Any]], *args: Any) -> None:
        """Issue a claim-holding command; on a lost claim stop everything, issue nothing more."""
        if self.cancel.reason in ABANDONED:
            raise Abandoned()
        try:
            use_case(self.build_id, self.plan.claim, *args, self.ctx.origin)
        except LostClaim:
            self.cancel.set("lost")
            raise Abandoned() from None

    def _finish(self, status: str) -> str:
        self._command(self.ctx.app.finish_build, status)
        self.status = status
        return status

    def _keep_lease(self) -> None:
        """Renew the lease every third of it; a kill request or a lost claim stops the run.

        If renewing keeps failing (the database is away), stop before the lease can run out,
        as if the claim were lost: after that another worker may take the build, and the two
        must never run it at once. A renewal counts from when it was sent.
        """
        lease = self.ctx.lease.total_seconds()
        last_ok = time.monotonic()
        while not self._done.wait(lease / 3):
            sent = time.monotonic()
            try:
                kill = self.ctx.app.renew_lease(
                    self.build_id, self.plan.claim, self.ctx.lease, self.ctx.origin
                ).value
            except LostClaim:
                self.cancel.set("lost")
                return
            except Exception:
                log.exception("renewing the lease of build %s failed", self.build_id)
                if time.monotonic() - last_ok > lease * 2 / 3:
                    self.cancel.set("lost")
                    return
                continue
            last_ok = sent
            if kill:
                self.cancel.set("killed")

    def _stream(self, job_id: int) -> LogStream:
        return LogStream(
            self.ctx.logs,
            self.build_id,
            job_id,
            self._secrets,
            muted=lambda: self.cancel.reason in ABANDONED,
            turn=self._turn,
        )


def _destroy(driver: Driver, build_id: int) -> None:
    try:
        driver.destroy()
    except Exception:  # cleanup must not hide the build's outcome
        log.exception("destroying the driver of build %s failed", build_id)
