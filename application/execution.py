"""Use cases a worker issues while it runs a build: claim, lease, job progress, artifacts, end.

Every command after the claim names the claim it holds. A worker whose lease expired (it
hung, or died and came back) finds its claim gone and gets `LostClaim`, so a build is never
run by two workers at once: reclaiming is a version-guarded command on the Build aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

from application.core import CoreApplication, Outcome
from domain.builds import ORPHANED_TAG, Build, LostClaim, NotClaimable
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
    def claim_build(
        self, build_id: int, worker: str, lease: timedelta, origin: Origin
    ) -> Outcome[RunPlan | None]:
        """Take a queued build, or one whose holder's lease expired; None if it is not free."""
        claim = uuid4().hex

        def command() -> Outcome[RunPlan | None]:
            build = self.load(Build.create_id(build_id), Build)
            if build is None:
                return Outcome(None, [])
            now = self.clock()
            tag_id = None
            expired = build.lease_until is not None and build.lease_until < now
            if build.status == "running" and expired and ORPHANED_TAG not in build.tags:
                tag_id = self.ids.next_id("build_tag")
            try:
                orphaned = build.take(
                    worker, claim, now + lease, now, tag_id, build.owner_id, origin
                )
            except NotClaimable:
                return Outcome(None, [])
            recordings = self.save(build)
            return Outcome(self._plan(build, claim, orphaned), recordings)

        return self.run(command)

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
        """Extend the claim's lease; the value says whether a kill was requested."""

        def command() -> Outcome[bool]:
            build = self._held(build_id)
            build.renew(claim, self.clock() + lease, origin)
            return Outcome(build.kill_requested, self.save(build))

        return self.run(command)

    def start_job(self, build_id: int, claim: str, job_id: int, origin: Origin) -> Outcome[None]:
        def command() -> Outcome[None]:
            build = self._held(build_id)
            build.start_job(claim, job_id, origin)
            return Outcome(None, self.save(build))

        return self.run(command)

    def finish_job(
        self, build_id: int, claim: str, job_id: int, status: str, origin: Origin
    ) -> Outcome[None]:
        def command() -> Outcome[None]:
            build = self._held(build_id)
            build.finish_job(claim, job_id, status, origin)
            return Outcome(None, self.save(build))

        return self.run(command)

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

        def command() -> Outcome[None]:
            build = self._held(build_id)
            build.collect_artifact(claim, artifact_id, size, md5, sha256, origin)
            return Outcome(None, self.save(build))

        return self.run(command)

    def finish_build(self, build_id: int, claim: str, status: str, origin: Origin) -> Outcome[None]:
        """End the run; jobs that had not ended take the build's status."""

        def command() -> Outcome[None]:
            build = self._held(build_id)
            build.finish(claim, status, origin)
            return Outcome(None, self.save(build))

        return self.run(command)
