"""The builds read model's tables, and what each step of a build's life does to them.

`BuildsTables` is the intent layer the builds projection calls; `BuildsView` runs it in
PostgreSQL. A change to a build's or a job's state is notified on STATUS_CHANNEL (payload:
the build id; live tables only), so that output streams learn at once that a job ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from domain.builds import BuildStatus
from projections.base import ReadModel, View
from projections.writes import Rows

STATUS_CHANNEL = "marid_build_status"

_TIMES = "created_at timestamptz NOT NULL, started_at timestamptz, finished_at timestamptz"
Row = Mapping[str, Any]
_UNCOLLECTED = {"size": None, "md5": None, "sha256": None, "collected_at": None}


class BuildsTables(ReadModel):
    projection_name = "builds"
    tables = {
        "builds": "(id bigint PRIMARY KEY, aggregate_id uuid NOT NULL, user_id bigint NOT NULL, "
        "namespace_id bigint, submitter_id bigint NOT NULL, number integer NOT NULL, "
        "manifest text NOT NULL, driver jsonb NOT NULL, trigger jsonb NOT NULL, "
        "status text NOT NULL, pinned boolean NOT NULL, "
        f"kill_requested boolean NOT NULL, {_TIMES}, worker text, lease_until timestamptz)",
        "build_jobs": "(id bigint PRIMARY KEY, build_id bigint NOT NULL, "
        "position integer NOT NULL, stage text NOT NULL, name text NOT NULL, "
        f"commands text NOT NULL, status text NOT NULL, {_TIMES})",
        "build_artifacts": "(id bigint PRIMARY KEY, build_id bigint NOT NULL, "
        "job_id bigint NOT NULL, user_id bigint NOT NULL, source text NOT NULL, "
        "name text NOT NULL, size bigint, md5 text, sha256 text, "
        "created_at timestamptz NOT NULL, deleted_at timestamptz, collected_at timestamptz)",
        "build_tags": "(id bigint PRIMARY KEY, build_id bigint NOT NULL, user_id bigint NOT NULL, "
        "name text NOT NULL, created_at timestamptz NOT NULL)",
        "build_variables": "(id bigint PRIMARY KEY, build_id bigint NOT NULL, variable_id bigint, "
        "key text NOT NULL, value text NOT NULL, masked boolean NOT NULL)",
        "build_keys": "(id bigint PRIMARY KEY, build_id bigint NOT NULL, key_id bigint, "
        "name text NOT NULL, config text NOT NULL, key text NOT NULL, location text NOT NULL)",
        "build_objects": "(id bigint PRIMARY KEY, build_id bigint NOT NULL, "
        "object_id bigint NOT NULL, name text NOT NULL, destination text NOT NULL)",
    }
    indexes = {
        "builds_aggregate_idx": ("builds", "UNIQUE", "(aggregate_id)"),
        "builds_owner_number_idx": ("builds", "UNIQUE", "(user_id, number)"),
        "builds_namespace_idx": ("builds", "", "(namespace_id, created_at)"),
        "builds_created_idx": ("builds", "", "(created_at, id)"),
        # what workers look for: builds not yet ended
        "builds_claimable_idx": (
            "builds",
            "",
            "(created_at, id) WHERE status IN ('queued', 'running')",
        ),
        "build_jobs_build_idx": ("build_jobs", "", "(build_id, position)"),
        "build_artifacts_build_idx": ("build_artifacts", "", "(build_id, name)"),
        # storage usage per owner (projections/usage.py): the collected ones
        "build_artifacts_user_idx": ("build_artifacts", "", "(user_id) WHERE size IS NOT NULL"),
        "build_tags_build_name_idx": ("build_tags", "UNIQUE", "(build_id, name)"),
        "build_tags_name_idx": ("build_tags", "", "(name)"),
        "build_variables_build_idx": ("build_variables", "", "(build_id)"),
        "build_keys_build_idx": ("build_keys", "", "(build_id)"),
        "build_objects_build_idx": ("build_objects", "", "(build_id)"),
        "build_objects_object_idx": ("build_objects", "", "(object_id)"),
    }

    def add(self, build: Row, parts: Mapping[str, Sequence[Row]], tracking: Tracking) -> None:
        """A submitted build, queued, with its `parts`: rows of the other tables by table
        (jobs, artifacts, tags and the snapshot of variables, keys and objects)."""
        queued = {"status": BuildStatus.QUEUED, "pinned": False, "kill_requested": False}

        def change(rows: Rows) -> None:
            rows.insert("builds", {**build, **queued})
            for table, part in parts.items():
                rows.insert(table, *part)

        self.apply(tracking, change)

    def update(self, aggregate_id: Any, values: Row, tracking: Tracking) -> None:
        """Set these columns of the build (a pin, a kill request), with no notification."""
        self._update(tracking, "builds", values, aggregate_id=aggregate_id)

    def tag(self, aggregate_id: Any, tags: Sequence[Row], tracking: Tracking) -> None:
        """Add tags (rows without their `build_id`)."""

        def change(rows: Rows) -> None:
            build_id = _build_id(rows, aggregate_id)
            rows.insert("build_tags", *({**tag, "build_id": build_id} for tag in tags))

        self.apply(tracking, change)

    def untag(self, aggregate_id: Any, name: str, tracking: Tracking) -> None:
        def change(rows: Rows) -> None:
            rows.delete("build_tags", build_id=_build_id(rows, aggregate_id), name=name)

        self.apply(tracking, change)

    def claimed(
        self,
        aggregate_id: Any,
        worker: str,
        lease_until: datetime,
        at: datetime,
        tracking: Tracking,
    ) -> None:
        """Running from `at`, held by `worker`; `lease_until` is the first lease (renewals
        are heartbeats outside the event log, in `marid_build_leases`)."""
        values = {
            "status": BuildStatus.RUNNING,
            "started_at": at,
            "finished_at": None,
            "worker": worker,
            "lease_until": lease_until,
        }
        self._update(tracking, "builds", values, aggregate_id=aggregate_id)

    def killed(self, aggregate_id: Any, at: datetime, tracking: Tracking) -> None:
        """A queued build killed: it and every job end `killed` without having run."""
        killed = {"status": BuildStatus.KILLED}

        def change(rows: Rows) -> None:
            for build_id in rows.update(
                "builds", {**killed, "finished_at": at}, "id", aggregate_id=aggregate_id
            ):
                rows.update("build_jobs", killed, build_id=build_id)
                _changed(rows, build_id)

        self.apply(tracking, change)

    def orphaned(
        self, aggregate_id: Any, tag: Row | None, at: datetime, tracking: Tracking
    ) -> None:
        """A dead holder's build starts over: queued, its jobs queued, artifacts uncollected;
        `tag` (without its `build_id`) marks it."""
        queued = {"status": BuildStatus.QUEUED, "started_at": None, "finished_at": None}

        def change(rows: Rows) -> None:
            released = {**queued, "worker": None, "lease_until": None}
            for build_id in rows.update("builds", released, "id", aggregate_id=aggregate_id):
                rows.update("build_jobs", queued, build_id=build_id)
                rows.update("build_artifacts", _UNCOLLECTED, build_id=build_id)
                if tag is not None:
                    rows.insert("build_tags", {**tag, "build_id": build_id, "created_at": at})
                _changed(rows, build_id)

        self.apply(tracking, change)

    def job_started(self, job_id: int, at: datetime, tracking: Tracking) -> None:
        self._job(job_id, {"status": BuildStatus.RUNNING, "started_at": at}, tracking)

    def job_finished(self, job_id: int, status: str, at: datetime, tracking: Tracking) -> None:
        self._job(job_id, {"status": status, "finished_at": at}, tracking)

    def _job(self, job_id: int, values: Row, tracking: Tracking) -> None:
        def change(rows: Rows) -> None:
            for build_id in rows.update("build_jobs", values, "build_id", id=job_id):
                _changed(rows, build_id)

        self.apply(tracking, change)

    def artifact_collected(self, artifact_id: int, values: Row, tracking: Tracking) -> None:
        """Its size, digests and collection time (all None: the file was missing)."""
        self._update(tracking, "build_artifacts", values, id=artifact_id)

    def finished(self, aggregate_id: Any, status: str, at: datetime, tracking: Tracking) -> None:
        """The build ends; jobs still queued or running take its status (running ones end
        now)."""

        def change(rows: Rows) -> None:
            ended = {"status": status, "finished_at": at, "lease_until": None}
            for build_id in rows.update("builds", ended, "id", aggregate_id=aggregate_id):
                running = {"build_id": build_id, "status": BuildStatus.RUNNING}
                rows.update("build_jobs", {"status": status, "finished_at": at}, **running)
                rows.update(
                    "build_jobs", {"status": status}, build_id=build_id, status=BuildStatus.QUEUED
                )
                _changed(rows, build_id)

        self.apply(tracking, change)

    def detach_namespace(self, namespace_id: int, tracking: Tracking) -> None:
        """A deleted namespace's builds stay with their owners, in no namespace."""
        self._update(tracking, "builds", {"namespace_id": None}, namespace_id=namespace_id)


def _build_id(rows: Rows, aggregate_id: Any) -> Any:
    """The public id of the build (None when the read model lacks it: writes then fail)."""
    build = rows.find("builds", aggregate_id=aggregate_id)
    return None if build is None else build["id"]


def _changed(rows: Rows, build_id: int) -> None:
    rows.notify(STATUS_CHANNEL, str(build_id))


class BuildsView(BuildsTables, View):
    """The builds read model in PostgreSQL."""
