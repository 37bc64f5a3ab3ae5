"""Use cases a worker issues while it runs a build: claim, lease, job progress, artifacts, end.

Every command after the claim names the claim it holds. A worker whose lease expired (it
hung, or died and came back) finds its claim gone and gets `LostClaim`, so a build is never
run by two workers at once: reclaiming is a version-guarded command on the Build aggregate,
and it takes the build's lease over first (`Leases.acquire`, atomic), so that a renewal
racing it either comes first and keeps the build or comes second and is refused.

Renewals are heartbeats in `Leases`, not events: a 30-minute build would otherwise record
one event every few seconds. The `Claimed` event still records the first lease; a lease
runs out at the later of that and the last heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from application.core import CoreApplication, Outcome, command
from application.leases import InMemoryLeases
from application.ports import Leases
from domain.builds import ORPHANED_TAG, Build, LostClaim
from domain.objects import blob_key
from domain.origin import Origin

__all__ = ["ExecutionCases", "LostClaim", "RunJob", "RunPlan"]


@dataclass(frozen=True)
class RunJob:
    id: int
    stage: str
    name: str
    commands: list[str]
    artifacts: list[dict[str, Any]]  # {"id", "source", "name"}


@dataclass(frozen=True)
class RunPlan:
    """Everything a worker needs to run one claimed build, secrets opened."""

    build_id: int
    number: int
    owner_id: int
    namespace_id: int | None
    claim: str
    orphaned: bool
    kill_requested: bool
    driver: dict[str, str]
    stages: list[dict[str, Any]]  # {"name", "can_fail"}, the setup stage first
    jobs: list[RunJob]
    variables: list[tuple[str, str, bool]]  # (key, value, masked)
    keys: list[dict[str, Any]]  # {"name", "key", "config", "location"}
    objects: list[dict[str, Any]]  # {"object_id", "name", "destination", "blob"}

    @property
    def masked_values(self) -> list[str]:
        return [value for _, value, masked in self.variables if masked and value]


class ExecutionCases(CoreApplication):
    _leases: Leases | None = None

    @property
    def leases(self) -> Leases:
        """The build leases: in memory unless wired to shared ones (`PostgresLeases`)."""
        if self._leases is None:
            self._leases = InMemoryLeases()
        return self._leases

    @leases.setter
    def leases(self, leases: Leases) -> None:
        self._leases = leases

    def lease_now(self) -> datetime:
        """The time leases are measured by: the database's where leases are kept there, so
        that a worker whose clock runs ahead or behind neither steals a live lease nor
        records one off by its skew."""
        return self.leases.now() or self.clock()

    def claim_build(
        self, build_id: int, worker: str, lease: timedelta, origin: Origin
    ) -> Outcome[RunPlan | None]:
        """Take a queued build, or one whose holder's lease expired; None if it is not free."""
        return self._take(build_id, uuid4().hex, worker, lease, origin)

    @command
    def _take(
        self, build_id: int, claim: str, worker: str, lease: timedelta, origin: Origin
    ) -> Outcome[RunPlan | None]:
        """Claim with `claim`, the same in every attempt: a retry finds the lease its own."""
        build = self.load(Build.create_id(build_id), Build)
        if build is None:
            return Outcome(None, [])
        now = self.lease_now()
        heartbeat = self.leases.expiry(build_id, build.claim) if build.claim else None
        if not build.claimable(now, heartbeat):
            return Outcome(None, [])
        if not self.leases.acquire(build_id, claim, now + lease, now):
            return Outcome(None, [])  # another worker took it over first
        tag_id = None
        if build.lease_expired(now, heartbeat) and ORPHANED_TAG not in build.tags:
            tag_id = self.ids.next_id("build_tag")
        orphaned = build.take(
            worker, claim, now + lease, now, heartbeat, tag_id, build.owner_id, origin
        )
        recordings = self.save(build)
        return Outcome(self._plan(build, claim, orphaned), recordings)

    def _plan(self, build: Build, claim: str, orphaned: bool) -> RunPlan:
        return RunPlan(
            build_id=build.public_id,
            number=build.number,
            owner_id=build.owner_id,
            namespace_id=build.namespace_id,
            claim=claim,
            orphaned=orphaned,
            kill_requested=build.kill_requested,
            driver=dict(build.driver),
            stages=[dict(stage) for stage in build.stages],
            jobs=[
                RunJob(
                    id=job["id"],
                    stage=job["stage"],
                    name=job["name"],
                    commands=list(job["commands"]),
                    artifacts=[dict(a) for a in job["artifacts"]],
                )
                for job in build.jobs
            ],
            variables=[
                (
                    v["key"],
                    self.secrets.open(v["value"]) if v["masked"] else v["value"],
                    bool(v["masked"]),
                )
                for v in build.variables
            ],
            keys=[
                {
                    "name": k["name"],
                    "key": self.secrets.open(k["key"]),
                    "config": k["config"],
                    "location": k["location"],
                }
                for k in build.keys
            ],
            objects=[
                {
                    "object_id": o["object_id"],
                    "name": o["name"],
                    "destination": o["destination"],
                    "blob": blob_key(o["object_id"]),
                }
                for o in build.objects
            ],
        )

    def _held(self, build_id: int) -> Build:
        build = self.load(Build.create_id(build_id), Build)
        if build is None:
            raise LostClaim(build_id)
        return build

    def renew_lease(
        self, build_id: int, claim: str, lease: timedelta, origin: Origin
    ) -> Outcome[bool]:
        """Extend the claim's lease: a heartbeat, no event (`origin` is not recorded).

        The value says whether a kill was requested; LostClaim when the claim no longer
        holds the build (it ended, or another worker took it over).
        """
        build = self._held(build_id)
        build.check_claim(claim)
        if not self.leases.renew(build_id, claim, self.lease_now() + lease):
            raise LostClaim(build_id)
        return Outcome(build.kill_requested, [])

    @command
    def start_job(self, build_id: int, claim: str, job_id: int, origin: Origin) -> Outcome[None]:
        build = self._held(build_id)
        build.start_job(claim, job_id, origin)
        return Outcome(None, self.save(build))

    @command
    def finish_job(
        self, build_id: int, claim: str, job_id: int, status: str, origin: Origin
    ) -> Outcome[None]:
        build = self._held(build_id)
        build.finish_job(claim, job_id, status, origin)
        return Outcome(None, self.save(build))

    @command
    def record_artifact(
        self,
        build_id: int,
        claim: str,
        artifact_id: int,
        size: int | None,
        md5: str | None,
        sha256: str | None,
        origin: Origin,
    ) -> Outcome[None]:
        """Record a collected artifact; `size` None records that the file was missing."""
        build = self._held(build_id)
        build.collect_artifact(claim, artifact_id, size, md5, sha256, origin)
        return Outcome(None, self.save(build))

    def finish_build(self, build_id: int, claim: str, status: str, origin: Origin) -> Outcome[None]:
        """End the run; jobs that had not ended take the build's status."""
        outcome = self._finish(build_id, claim, status, origin)
        self.leases.release(build_id, claim)
        return outcome

    @command
    def _finish(self, build_id: int, claim: str, status: str, origin: Origin) -> Outcome[None]:
        build = self._held(build_id)
        build.finish(claim, status, origin)
        return Outcome(None, self.save(build))
