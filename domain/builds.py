"""The Build aggregate and the per-owner build counter.

Longer than 300 lines on purpose: stored events name their class by topic
(`domain.builds:Build.Claimed`), and the library triggers the events of the class that
declares an `@event` method, so the aggregate, its nested events and the methods that
apply them cannot move to other modules without changing the topics of stored events.
What a build runs (`plan`) lives in `domain.build_plan`.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.domain import Snapshot as BaseSnapshot

from domain.build_plan import artifact_blob_key as artifact_blob_key  # imported from here too
from domain.build_plan import plan as plan
from domain.errors import DomainError, NotFoundError
from domain.identity import aggregate_id
from domain.origin import Origin


class BuildStatus(StrEnum):
    """Where a build or one of its jobs stands. A `str`: events store it and SQL compares
    it as the text it is."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    PASSED_WITH_FAILURES = "passed_with_failures"
    FAILED = "failed"
    KILLED = "killed"
    TIMED_OUT = "timed_out"


STATUSES = tuple(BuildStatus)
FINISHED = frozenset(STATUSES) - {BuildStatus.QUEUED, BuildStatus.RUNNING}
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


def valid_tag(name: str) -> bool:
    """Tag names: letters and digits of any script, `-`, `_`, `.` and `/`."""
    return len(name) <= TAG_MAX and TAG_RE.fullmatch(name) is not None


def final_status(status: str) -> BuildStatus:
    """`status` as a status a job or build may end with; ValueError if it is not one.
    (Events record its `.value`: a plain `str`, as they always did.)"""
    if status not in FINISHED:
        raise ValueError(f"not a final status: {status}")
    return BuildStatus(status)


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

    class Snapshot(BaseSnapshot):
        """The build's state in JSON's types: tags as a sorted list, job statuses as
        [job id, status] pairs (JSON object keys would turn the ids into strings)."""

        @classmethod
        def take(cls, aggregate: Any) -> Any:
            snapshot = super().take(aggregate)
            snapshot.state["tags"] = sorted(aggregate.tags)
            snapshot.state["job_statuses"] = [[k, v] for k, v in aggregate.job_statuses.items()]
            return snapshot

        def mutate(self, _: None) -> Any:
            build: Any = super().mutate(None)
            build.status = BuildStatus(build.status)
            build.tags = set(build.tags)
            build.job_statuses = {k: BuildStatus(v) for k, v in build.job_statuses}
            return build

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
        """No longer recorded: leases are renewed by heartbeats outside the event log
        (`application.ports.Leases`). Kept so that builds which recorded it still load."""

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
        self.status = BuildStatus.QUEUED
        self.job_statuses = {job["id"]: BuildStatus.QUEUED for job in jobs}
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
        if self.status == BuildStatus.QUEUED:
            self._killed(origin=origin)
        elif self.status == BuildStatus.RUNNING and not self.kill_requested:
            self._kill_requested(origin=origin)

    @event(Killed)
    def _killed(self, origin: Origin) -> None:
        self.status = BuildStatus.KILLED
        self.job_statuses = dict.fromkeys(self.job_statuses, BuildStatus.KILLED)

    @event(KillRequested)
    def _kill_requested(self, origin: Origin) -> None:
        self.kill_requested = True

    # Execution: commands a worker issues while it holds the build's claim. Its lease is
    # the later of the one its claim recorded and its last heartbeat, which is kept outside
    # the event log (`application.ports.Leases`): the caller passes it in.

    def lease_expired(self, now: datetime, heartbeat: datetime | None) -> bool:
        """Whether the build runs under a lease that ran out before `now`: its holder died
        (or hangs), and another worker may take it over."""
        if self.status != BuildStatus.RUNNING or self.lease_until is None:
            return False
        return max(self.lease_until, heartbeat or self.lease_until) < now

    def claimable(self, now: datetime, heartbeat: datetime | None) -> bool:
        """Queued, or running under an expired lease."""
        return self.status == BuildStatus.QUEUED or self.lease_expired(now, heartbeat)

    def take(
        self,
        worker: str,
        claim: str,
        lease_until: datetime,
        now: datetime,
        heartbeat: datetime | None,
        tag_id: int | None,
        user_id: int,
        origin: Origin,
    ) -> bool:
        """Claim the build for `worker`; True when it had been orphaned by a dead holder.

        Queued builds are free. A running build whose lease has expired is reset (and
        tagged `orphaned`) before it is claimed again, so it never runs twice at once.
        """
        orphaned = self.lease_expired(now, heartbeat)
        if orphaned:
            tag = None
            if ORPHANED_TAG not in self.tags and tag_id is not None:
                tag = {"id": tag_id, "name": ORPHANED_TAG, "user_id": user_id}
            assert self.claim is not None  # a running build has a claim
            self._orphaned(claim=self.claim, tag=tag, origin=origin)
        if self.status != BuildStatus.QUEUED:
            raise NotClaimable(f"build is {self.status}")
        self._claimed(worker=worker, claim=claim, lease_until=lease_until, origin=origin)
        return orphaned

    @event(Orphaned)
    def _orphaned(self, claim: str, tag: dict[str, Any] | None, origin: Origin) -> None:
        self.status = BuildStatus.QUEUED
        self.job_statuses = dict.fromkeys(self.job_statuses, BuildStatus.QUEUED)
        if tag is not None:
            self.tags.add(tag["name"])
        self.worker = self.claim = self.lease_until = None

    @event(Claimed)
    def _claimed(self, worker: str, claim: str, lease_until: datetime, origin: Origin) -> None:
        self.status = BuildStatus.RUNNING
        self.worker, self.claim, self.lease_until = worker, claim, lease_until

    def check_claim(self, claim: str) -> None:
        """Raise LostClaim unless `claim` holds the build and it is running."""
        if self.status != BuildStatus.RUNNING or self.claim != claim:
            raise LostClaim(self.public_id)

    @event(LeaseRenewed)
    def _lease_renewed(self, claim: str, lease_until: datetime, origin: Origin) -> None:
        self.lease_until = lease_until  # replayed from old events only

    def _job(self, job_id: int) -> BuildStatus:
        status = self.job_statuses.get(job_id)
        if status is None:
            raise NotFoundError("job")
        return status

    def start_job(self, claim: str, job_id: int, origin: Origin) -> None:
        self.check_claim(claim)
        if self._job(job_id) != BuildStatus.QUEUED:
            raise DomainError(f"job {job_id} is {self.job_statuses[job_id]}, not queued")
        self._job_started(claim=claim, job_id=job_id, origin=origin)

    @event(JobStarted)
    def _job_started(self, claim: str, job_id: int, origin: Origin) -> None:
        self.job_statuses[job_id] = BuildStatus.RUNNING

    def finish_job(self, claim: str, job_id: int, status: str, origin: Origin) -> None:
        """End a job (started or not: jobs without commands end without starting)."""
        self.check_claim(claim)
        ending = final_status(status)
        if self._job(job_id) in FINISHED:
            raise DomainError(f"job {job_id} has already ended")
        self._job_finished(claim=claim, job_id=job_id, status=ending.value, origin=origin)

    @event(JobFinished)
    def _job_finished(self, claim: str, job_id: int, status: str, origin: Origin) -> None:
        self.job_statuses[job_id] = BuildStatus(status)

    def collect_artifact(
        self,
        claim: str,
        artifact_id: int,
        size: int | None,
        md5: str | None,
        sha256: str | None,
        origin: Origin,
    ) -> None:
        self.check_claim(claim)
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
        self.check_claim(claim)
        self._finished(claim=claim, status=final_status(status).value, origin=origin)

    @event(Finished)
    def _finished(self, claim: str, status: str, origin: Origin) -> None:
        self.status = ending = BuildStatus(status)
        self.job_statuses = {
            job_id: (current if current in FINISHED else ending)
            for job_id, current in self.job_statuses.items()
        }
        self.lease_until = None
