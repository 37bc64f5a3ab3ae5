"""The Build aggregate and the per-owner build counter."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFoundError
from domain.identity import aggregate_id
from domain.manifest import Manifest
from domain.origin import Origin

STATUSES = ("queued", "running", "passed", "passed_with_failures", "failed", "killed", "timed_out")
FINISHED = frozenset(("passed", "passed_with_failures", "failed", "killed", "timed_out"))
TAG_RE = re.compile(r"[\w./-]+")
TAG_MAX = 255


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
