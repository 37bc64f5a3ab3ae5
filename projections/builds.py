"""The builds projection: builds, their jobs, artifacts, tags and submit-time snapshot.

Secrets in the snapshot (masked variable values, private keys) are stored sealed,
exactly as in the event. The tables are in `projections/build_tables.py`, the queries in
`projections/build_queries.py`.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from domain.builds import Build, BuildStatus
from domain.namespaces import Namespace
from projections.build_queries import BuildFilters, BuildQueries
from projections.build_tables import STATUS_CHANNEL, BuildsTables, BuildsView
from projections.handling import ReadModelProjection, created_row, handlers

__all__ = [
    "STATUS_CHANNEL",
    "BuildFilters",
    "BuildQueries",
    "BuildsProjection",
    "BuildsTables",
    "BuildsView",
]


def snapshot(event: Build.Submitted) -> dict[str, list[dict[str, Any]]]:
    """The rows of a submitted build's parts, by table (each without its `build_id`)."""
    at = event.timestamp
    jobs = [
        {
            "id": job["id"],
            "position": position,
            "stage": job["stage"],
            "name": job["name"],
            "commands": "\n".join(job["commands"]),
            "status": BuildStatus.QUEUED,
            "created_at": at,
        }
        for position, job in enumerate(event.jobs)
    ]
    artifacts = [
        {
            "id": artifact["id"],
            "job_id": job["id"],
            "user_id": event.owner_id,
            "source": artifact["source"],
            "name": artifact["name"],
            "created_at": at,
        }
        for job in event.jobs
        for artifact in job["artifacts"]
    ]
    tags = [{**_tag(tag), "created_at": at} for tag in event.tags]
    variables = [
        {k: v[k] for k in ("id", "variable_id", "key", "value", "masked")} for v in event.variables
    ]
    keys = [
        {k: key[k] for k in ("id", "key_id", "name", "config", "key", "location")}
        for key in event.keys
    ]
    objects = [{k: o[k] for k in ("id", "object_id", "name", "destination")} for o in event.objects]
    parts = {
        "build_jobs": jobs,
        "build_artifacts": artifacts,
        "build_tags": tags,
        "build_variables": variables,
        "build_keys": keys,
        "build_objects": objects,
    }
    return {
        table: [{**row, "build_id": event.public_id} for row in rows]
        for table, rows in parts.items()
    }


def _tag(tag: dict[str, Any]) -> dict[str, Any]:
    """A tag of an event as a row (without its build and time)."""
    return {"id": tag["id"], "user_id": tag["user_id"], "name": tag["name"]}


class BuildsProjection(ReadModelProjection[BuildsTables]):
    name = "builds"
    process_event = handlers()

    @process_event.register
    def submitted(self, event: Build.Submitted, tracking: Tracking) -> None:
        own = ("namespace_id", "submitter_id", "number", "manifest", "driver", "trigger")
        build = created_row(event, *own, user_id="owner_id")
        self.view.add(build, snapshot(event), tracking)

    @process_event.register
    def tagged(self, event: Build.Tagged, tracking: Tracking) -> None:
        tags = [{**_tag(tag), "created_at": event.timestamp} for tag in event.tags]
        self.view.tag(event.originator_id, tags, tracking)

    @process_event.register
    def untagged(self, event: Build.Untagged, tracking: Tracking) -> None:
        self.view.untag(event.originator_id, event.name, tracking)

    @process_event.register
    def pinned(self, event: Build.Pinned, tracking: Tracking) -> None:
        self.view.update(event.originator_id, {"pinned": True}, tracking)

    @process_event.register
    def unpinned(self, event: Build.Unpinned, tracking: Tracking) -> None:
        self.view.update(event.originator_id, {"pinned": False}, tracking)

    @process_event.register
    def killed(self, event: Build.Killed, tracking: Tracking) -> None:
        self.view.killed(event.originator_id, event.timestamp, tracking)

    @process_event.register
    def kill_requested(self, event: Build.KillRequested, tracking: Tracking) -> None:
        self.view.update(event.originator_id, {"kill_requested": True}, tracking)

    # --- execution: a worker's claim, lease, job progress, artifacts and end ---------------

    @process_event.register
    def claimed(self, event: Build.Claimed, tracking: Tracking) -> None:
        self.view.claimed(
            event.originator_id, event.worker, event.lease_until, event.timestamp, tracking
        )

    @process_event.register
    def lease_renewed(self, event: Build.LeaseRenewed, tracking: Tracking) -> None:
        """Recorded by builds of earlier versions only (leases are now heartbeats)."""
        self.view.update(event.originator_id, {"lease_until": event.lease_until}, tracking)

    @process_event.register
    def orphaned(self, event: Build.Orphaned, tracking: Tracking) -> None:
        tag = None if event.tag is None else _tag(event.tag)
        self.view.orphaned(event.originator_id, tag, event.timestamp, tracking)

    @process_event.register
    def job_started(self, event: Build.JobStarted, tracking: Tracking) -> None:
        self.view.job_started(event.job_id, event.timestamp, tracking)

    @process_event.register
    def job_finished(self, event: Build.JobFinished, tracking: Tracking) -> None:
        self.view.job_finished(event.job_id, event.status, event.timestamp, tracking)

    @process_event.register
    def artifact_collected(self, event: Build.ArtifactCollected, tracking: Tracking) -> None:
        """`size` None: the file was missing; the artifact stays uncollected."""
        collected = event.timestamp if event.size is not None else None
        values = {
            "size": event.size,
            "md5": event.md5,
            "sha256": event.sha256,
            "collected_at": collected,
        }
        self.view.artifact_collected(event.artifact_id, values, tracking)

    @process_event.register
    def finished(self, event: Build.Finished, tracking: Tracking) -> None:
        self.view.finished(event.originator_id, event.status, event.timestamp, tracking)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        self.view.detach_namespace(event.public_id, tracking)
