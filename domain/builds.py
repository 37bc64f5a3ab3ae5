"""The Build aggregate and the per-owner build counter."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, NotFoundError
from domain.identity import aggregate_id
from domain.manifest import Manifest
from domain.origin import Origin

STATUSES = ("queued", "running", "passed", "passed_with_failures", "failed", "killed", "timed_out")
FINISHED = frozenset(("passed", "passed_with_failures", "failed", "killed", "timed_out"))
TAG_RE = re.compile(r"[\w./-]+")
TAG_MAX = 255
ORPHANED_TAG = "orphaned"


class LostClaim(DomainError):  # noqa: N818 - a signal to the worker, not a fault
    """Raised when a worker acts on a build it no longer holds: another worker reclaimed it
    after its lease expired, or the build has ended. The worker must stop that build at once."""

    def __init__(self, build_id: int) -> None:
        super().__init__(f"build {build_id} is no longer held by this worker")
        self.build_id = build_id


class NotClaimable(DomainError):  # noqa: N818
    """Raised when a build cannot be claimed: it is not queued, or its holder's lease is live."""


def artifact_blob_key(build_id: int, artifact_id: int) -> str:
    """Where a collected artifact's content is stored."""
    return f"artifacts/{build_id}/{artifact_id}"


def valid_tag(name: str) -> bool:
    """Tag names: letters and digits of any script, `-`, `_`, `.` and `/`."""
    return len(name) <= TAG_MAX and TAG_RE.fullmatch(name) is not None


def plan(manifest: Manifest, number: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stages and jobs a build runs: the setup stage first, then the manifest's.

    Setup has `create-driver` and one `clone.<i>` per source. Jobs carry their artifact
    placeholders; ids are assigned by the caller.
    """
    setup = f"setup - #{number}"
    stages = [{"name": setup, "can_fail": False}]
    stages += [{"name": s, "can_fail": s in manifest.allow_failures} for s in manifest.stages]
    jobs: list[dict[str, Any]] = [
        {"stage": setup, "name": "create-driver", "commands": [], "artifacts": []}
    ]
    for i, source in enumerate(manifest.sources):
        commands = [f"mkdir -p {source.dir}", f"git clone -q {source.url} {source.dir}"]
        commands += [f"cd {source.dir}"]
        if source.ref:
            commands.append(f"git checkout -q {source.ref}")
        jobs.append({"stage": setup, "name": f"clone.{i}", "commands": commands, "artifacts": []})
    for job in manifest.jobs:
        artifacts = [{"source": a.source, "name": a.destination} for a in job.artifacts]
        jobs.append(
            {
                "stage": job.stage,
                "name": job.name,
                "commands": list(job.commands),
                "artifacts": artifacts,
            }
        )
    return stages, jobs


class BuildCounter(Aggregate):
    """The last build number of one owner; saved with each new build, so numbers never repeat."""

    class Started(Aggregate.Created):
        owner_id: int
        origin: Origin

    class Counted(Aggregate.Event):
        number: int
        origin: Origin

    @staticmethod
    def create_id(owner_id: int) -> UUID:
        return aggregate_id("build-counter", owner_id)

    @event(Started)
    def __init__(self, owner_id: int, origin: Origin) -> None:
        self.owner_id = owner_id
        self.last = 0

    def next_number(self, origin: Origin) -> int:
        self._counted(number=self.last + 1, origin=origin)
        return self.last

    @event(Counted)
    def _counted(self, number: int, origin: Origin) -> None:
        self.last = number


class Build(Aggregate):
    """A submitted build: what it runs (snapshotted at submit time) and where it stands."""

    class Submitted(Aggregate.Created):
        public_id: int
        number: int
        owner_id: int
        namespace_id: int | None
        submitter_id: int
        manifest: str
        driver: dict[str, str]
        trigger: dict[str, Any]
        stages: list[dict[str, Any]]
        jobs: list[dict[str, Any]]
        variables: list[dict[str, Any]]
        keys: list[dict[str, Any]]
        objects: list[dict[str, Any]]
        tags: list[dict[str, Any]]
        origin: Origin

    class Tagged(Aggregate.Event):
        tags: list[dict[str, Any]]
        origin: Origin

    class Untagged(Aggregate.Event):
        name: str
        origin: Origin

    class Pinned(Aggregate.Event):
        origin: Origin

    class Unpinned(Aggregate.Event):
        origin: Origin

    class Killed(Aggregate.Event):
        """A build killed before it ran: it and every job end `killed`."""

        origin: Origin

    class KillRequested(Aggregate.Event):
        """A running build asked to stop; its worker ends it `killed`."""

        origin: Origin

    class Claimed(Aggregate.Event):
        """A worker took the build: it is `running` from this event's time, under a lease."""

        worker: str
        claim: str
        lease_until: datetime
        origin: Origin

    class LeaseRenewed(Aggregate.Event):
        claim: str
        lease_until: datetime
        origin: Origin

    class Orphaned(Aggregate.Event):
        """The holder's lease expired mid-run: the build is reset to run again from scratch.

        `tag` is the `orphaned` tag row when the build did not have it yet.
        """

        claim: str
        tag: dict[str, Any] | None
        origin: Origin

    class JobStarted(Aggregate.Event):
        claim: str
        job_id: int
        origin: Origin

    class JobFinished(Aggregate.Event):
        claim: str
        job_id: int
        status: str
        origin: Origin

    class ArtifactCollected(Aggregate.Event):
        """An artifact stored after its job; `size` None means the file was missing."""

        claim: str
        artifact_id: int
        size: int | None
        md5: str | None
        sha256: str | None
        origin: Origin

    class Finished(Aggregate.Event):
        """The run ended; jobs that had not ended take the build's status."""

        claim: str
        status: str
        origin: Origin

    @staticmethod
    def create_id(public_id: int) -> UUID:
        return aggregate_id("build", public_id)

    @event(Submitted)
    def __init__(
        self,
        public_id: int,
        number: int,
        owner_id: int,
        namespace_id: int | None,
        submitter_id: int,
        manifest: str,
        driver: dict[str, str],
        trigger: dict[str, Any],
        stages: list[dict[str, Any]],
        jobs: list[dict[str, Any]],
        variables: list[dict[str, Any]],
        keys: list[dict[str, Any]],
        objects: list[dict[str, Any]],
        tags: list[dict[str, Any]],
        origin: Origin,
    ) -> None:
        self.public_id = public_id
        self.number = number
        self.owner_id = owner_id
        self.namespace_id = namespace_id
        self.status = "queued"
        self.job_statuses = {job["id"]: "queued" for job in jobs}
        self.tags = {tag["name"] for tag in tags}
        self.pinned = False
        self.kill_requested = False
        # What a worker needs to run it (secrets stay sealed here).
        self.driver = dict(driver)
        self.stages = [dict(stage) for stage in stages]
        self.jobs = [dict(job) for job in jobs]
        self.variables = [dict(variable) for variable in variables]
        self.keys = [dict(key) for key in keys]
        self.objects = [dict(obj) for obj in objects]
        self.worker: str | None = None
        self.claim: str | None = None
        self.lease_until: datetime | None = None

    def tag(self, tags: list[tuple[int, str]], user_id: int, origin: Origin) -> list[str]:
        """Add tags the build lacks (invalid names and repeats are skipped); return them."""
        new: list[dict[str, Any]] = []
        for tag_id, name in tags:
            if valid_tag(name) and name not in self.tags and all(t["name"] != name for t in new):
                new.append({"id": tag_id, "name": name, "user_id": user_id})
        if new:
            self._tagged(tags=new, origin=origin)
        return [t["name"] for t in new]

    @event(Tagged)
    def _tagged(self, tags: list[dict[str, Any]], origin: Origin) -> None:
        self.tags |= {t["name"] for t in tags}

    def untag(self, name: str, origin: Origin) -> None:
        if name not in self.tags:
            raise NotFoundError("tag")
        self._untagged(name=name, origin=origin)

    @event(Untagged)
    def _untagged(self, name: str, origin: Origin) -> None:
        self.tags.discard(name)

    def pin(self, origin: Origin) -> None:
        if not self.pinned:
            self._pinned(origin=origin)

    @event(Pinned)
    def _pinned(self, origin: Origin) -> None:
        self.pinned = True

    def unpin(self, origin: Origin) -> None:
        if self.pinned:
            self._unpinned(origin=origin)

    @event(Unpinned)
    def _unpinned(self, origin: Origin) -> None:
        self.pinned = False

    def kill(self, origin: Origin) -> None:
        """Queued: killed now. Running: recorded for the worker. Finished: nothing changes."""
        if self.status == "queued":
            self._killed(origin=origin)
        elif self.status == "running" and not self.kill_requested:
            self._kill_requested(origin=origin)

    @event(Killed)
    def _killed(self, origin: Origin) -> None:
        self.status = "killed"
        self.job_statuses = dict.fromkeys(self.job_statuses, "killed")

    @event(KillRequested)
    def _kill_requested(self, origin: Origin) -> None:
        self.kill_requested = True

    # Execution: commands a worker issues while it holds the build's claim.

    def take(
        self,
        worker: str,
        claim: str,
        lease_until: datetime,
        now: datetime,
        tag_id: int | None,
        user_id: int,
        origin: Origin,
    ) -> bool:
        """Claim the build for `worker`; True when it had been orphaned by a dead holder.

        Queued builds are free. A running build whose lease has expired is reset (and
        tagged `orphaned`) before it is claimed again, so it never runs twice at once.
        """
        orphaned = False
        if self.status == "running" and self.lease_until is not None and self.lease_until < now:
            tag = None
            if ORPHANED_TAG not in self.tags and tag_id is not None:
                tag = {"id": tag_id, "name": ORPHANED_TAG, "user_id": user_id}
            assert self.claim is not None
            self._orphaned(claim=self.claim, tag=tag, origin=origin)
            orphaned = True
        if self.status != "queued":
            raise NotClaimable(f"build is {self.status}")
        self._claimed(worker=worker, claim=claim, lease_until=lease_until, origin=origin)
        return orphaned

    @event(Orphaned)
    def _orphaned(self, claim: str, tag: dict[str, Any] | None, origin: Origin) -> None:
        self.status = "queued"
        self.job_statuses = dict.fromkeys(self.job_statuses, "queued")
        if tag is not None:
            self.tags.add(tag["name"])
        self.worker = self.claim = self.lease_until = None

    @event(Claimed)
    def _claimed(self, worker: str, claim: str, lease_until: datetime, origin: Origin) -> None:
        self.status = "running"
        self.worker, self.claim, self.lease_until = worker, claim, lease_until

    def _hold(self, claim: str) -> None:
        if self.status != "running" or self.claim != claim:
            raise LostClaim(self.public_id)

    def renew(self, claim: str, lease_until: datetime, origin: Origin) -> None:
        self._hold(claim)
        self._lease_renewed(claim=claim, lease_until=lease_until, origin=origin)

    @event(LeaseRenewed)
    def _lease_renewed(self, claim: str, lease_until: datetime, origin: Origin) -> None:
        self.lease_until = lease_until

    def _job(self, job_id: int) -> str:
        status = self.job_statuses.get(job_id)
        if status is None:
            raise NotFoundError("job")
        return status

    def start_job(self, claim: str, job_id: int, origin: Origin) -> None:
        self._hold(claim)
        if self._job(job_id) != "queued":
            raise DomainError(f"job {job_id} is {self.job_statuses[job_id]}, not queued")
        self._job_started(claim=claim, job_id=job_id, origin=origin)

    @event(JobStarted)
    def _job_started(self, claim: str, job_id: int, origin: Origin) -> None:
        self.job_statuses[job_id] = "running"

    def finish_job(self, claim: str, job_id: int, status: str, origin: Origin) -> None:
        """End a job (started or not: jobs without commands end without starting)."""
        self._hold(claim)
        if status not in FINISHED:
            raise ValueError(f"not a final status: {status}")
        if self._job(job_id) in FINISHED:
            raise DomainError(f"job {job_id} has already ended")
        self._job_finished(claim=claim, job_id=job_id, status=status, origin=origin)

    @event(JobFinished)
    def _job_finished(self, claim: str, job_id: int, status: str, origin: Origin) -> None:
        self.job_statuses[job_id] = status

    def collect_artifact(
        self,
        claim: str,
        artifact_id: int,
        size: int | None,
        md5: str | None,
        sha256: str | None,
        origin: Origin,
    ) -> None:
        self._hold(claim)
        if not any(a["id"] == artifact_id for job in self.jobs for a in job["artifacts"]):
            raise NotFoundError("artifact")
        self._artifact_collected(
            claim=claim, artifact_id=artifact_id, size=size, md5=md5, sha256=sha256, origin=origin
        )

    @event(ArtifactCollected)
    def _artifact_collected(
        self,
        claim: str,
        artifact_id: int,
        size: int | None,
        md5: str | None,
        sha256: str | None,
        origin: Origin,
    ) -> None:
        pass

    def finish(self, claim: str, status: str, origin: Origin) -> None:
        self._hold(claim)
        if status not in FINISHED:
            raise ValueError(f"not a final status: {status}")
        self._finished(claim=claim, status=status, origin=origin)

    @event(Finished)
    def _finished(self, claim: str, status: str, origin: Origin) -> None:
        self.status = status
        self.job_statuses = {
            job_id: (current if current in FINISHED else status)
            for job_id, current in self.job_statuses.items()
        }
        self.lease_until = None
