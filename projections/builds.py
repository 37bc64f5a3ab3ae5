"""The builds read model: builds, their jobs, artifacts, tags and submit-time snapshot.

Secrets in the snapshot (masked variable values, private keys) are stored sealed,
exactly as in the event. The queries live in `projections/build_queries.py`.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.builds import Build
from domain.namespaces import Namespace
from projections.base import View
from projections.build_queries import BuildFilters, BuildQueries

__all__ = ["STATUS_CHANNEL", "BuildFilters", "BuildQueries", "BuildsProjection", "BuildsView"]

# Notified (payload: the build id) when a build's or a job's state changes in the live
# read model, so that output streams learn at once that a job has ended.
STATUS_CHANNEL = "marid_build_status"

_TIMES = "created_at timestamptz NOT NULL, started_at timestamptz, finished_at timestamptz"


class BuildsView(View):
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
        "build_tags_build_name_idx": ("build_tags", "UNIQUE", "(build_id, name)"),
        "build_tags_name_idx": ("build_tags", "", "(name)"),
        "build_variables_build_idx": ("build_variables", "", "(build_id)"),
        "build_keys_build_idx": ("build_keys", "", "(build_id)"),
        "build_objects_build_idx": ("build_objects", "", "(build_id)"),
        "build_objects_object_idx": ("build_objects", "", "(object_id)"),
    }


def _many(curs: Cursor[DictRow], sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        curs.executemany(sql, rows)


def _insert(table: str, width: int) -> str:
    return f"INSERT INTO {table} VALUES ({', '.join(['%s'] * width)})"


class BuildsProjection(Projection[BuildsView]):
    name = "builds"
    topics = tuple(
        get_topic(cls)
        for cls in (
            Build.Submitted,
            Build.Tagged,
            Build.Untagged,
            Build.Pinned,
            Build.Unpinned,
            Build.Killed,
            Build.KillRequested,
            Build.Claimed,
            Build.LeaseRenewed,
            Build.Orphaned,
            Build.JobStarted,
            Build.JobFinished,
            Build.ArtifactCollected,
            Build.Finished,
            Namespace.Deleted,
        )
    )

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def submitted(self, event: Build.Submitted, tracking: Tracking) -> None:
        t, at, build_id = self.view.t, event.timestamp, event.public_id
        build = (
            build_id,
            event.originator_id,
            event.owner_id,
            event.namespace_id,
            event.submitter_id,
            event.number,
            event.manifest,
            Jsonb(event.driver),
            Jsonb(event.trigger),
            "queued",
            False,
            False,
            at,
            None,
            None,
            None,
            None,
        )
        jobs = [
            (
                j["id"],
                build_id,
                i,
                j["stage"],
                j["name"],
                "\n".join(j["commands"]),
                "queued",
                at,
                None,
                None,
            )
            for i, j in enumerate(event.jobs)
        ]
        artifacts = [
            (
                a["id"],
                build_id,
                j["id"],
                event.owner_id,
                a["source"],
                a["name"],
                None,
                None,
                None,
                at,
                None,
                None,
            )
            for j in event.jobs
            for a in j["artifacts"]
        ]
        tags = [(g["id"], build_id, g["user_id"], g["name"], at) for g in event.tags]
        variables = [
            (v["id"], build_id, v["variable_id"], v["key"], v["value"], v["masked"])
            for v in event.variables
        ]
        keys = [
            (k["id"], build_id, k["key_id"], k["name"], k["config"], k["key"], k["location"])
            for k in event.keys
        ]
        objects = [
            (o["id"], build_id, o["object_id"], o["name"], o["destination"]) for o in event.objects
        ]

        def change(curs: Cursor[DictRow]) -> None:
            curs.execute(_insert(t("builds"), len(build)), build)
            _many(curs, _insert(t("build_jobs"), 10), jobs)
            _many(curs, _insert(t("build_artifacts"), 12), artifacts)
            _many(curs, _insert(t("build_tags"), 5), tags)
            _many(curs, _insert(t("build_variables"), 6), variables)
            _many(curs, _insert(t("build_keys"), 7), keys)
            _many(curs, _insert(t("build_objects"), 5), objects)

        self.view.write(tracking, change)

    def _build_id(self) -> str:
        """SQL for the public id of the event's build (parameter: the aggregate id)."""
        return f"(SELECT id FROM {self.view.t('builds')} WHERE aggregate_id = %s)"

    @process_event.register
    def tagged(self, event: Build.Tagged, tracking: Tracking) -> None:
        sql = f"INSERT INTO {self.view.t('build_tags')} SELECT %s, {self._build_id()}, %s, %s, %s"
        rows = [
            (tag["id"], event.originator_id, tag["user_id"], tag["name"], event.timestamp)
            for tag in event.tags
        ]
        self.view.write(tracking, lambda c: _many(c, sql, rows))

    @process_event.register
    def untagged(self, event: Build.Untagged, tracking: Tracking) -> None:
        sql = (
            f"DELETE FROM {self.view.t('build_tags')} "
            f"WHERE build_id = {self._build_id()} AND name = %s"
        )
        values = (event.originator_id, event.name)
        self.view.write(tracking, lambda c: c.execute(sql, values))

    def _set(self, tracking: Tracking, aggregate_id: Any, assignments: str, *values: Any) -> None:
        sql = f"UPDATE {self.view.t('builds')} SET {assignments} WHERE aggregate_id = %s"
        self.view.write(tracking, lambda c: c.execute(sql, (*values, aggregate_id)))

    @process_event.register
    def pinned(self, event: Build.Pinned, tracking: Tracking) -> None:
        self._set(tracking, event.originator_id, "pinned = true")

    @process_event.register
    def unpinned(self, event: Build.Unpinned, tracking: Tracking) -> None:
        self._set(tracking, event.originator_id, "pinned = false")

    @process_event.register
    def killed(self, event: Build.Killed, tracking: Tracking) -> None:
        """A queued build killed: it and every job end `killed` without having run."""
        builds, jobs = self.view.t("builds"), self.view.t("build_jobs")
        values = (event.timestamp, event.originator_id, event.originator_id)

        def change(curs: Cursor[DictRow]) -> None:
            curs.execute(
                f"UPDATE {builds} SET status = 'killed', finished_at = %s WHERE aggregate_id = %s",
                values[:2],
            )
            curs.execute(
                f"UPDATE {jobs} SET status = 'killed' WHERE build_id = {self._build_id()}",
                values[2:],
            )
            self._notify(curs, event.originator_id)

        self.view.write(tracking, change)

    @process_event.register
    def kill_requested(self, event: Build.KillRequested, tracking: Tracking) -> None:
        self._set(tracking, event.originator_id, "kill_requested = true")

    def _notify(self, curs: Cursor[DictRow], aggregate_id: Any) -> None:
        """Tell output streams (at commit) that the build's jobs changed; live tables only."""
        if self.view.guarded:
            curs.execute(
                f"SELECT pg_notify(%s, id::text) FROM {self.view.t('builds')} "
                "WHERE aggregate_id = %s",
                (STATUS_CHANNEL, aggregate_id),
            )

    # --- execution: a worker's claim, lease, job progress, artifacts and end ---------------

    @process_event.register
    def claimed(self, event: Build.Claimed, tracking: Tracking) -> None:
        """Running from now, held by `worker` until `lease_until` unless renewed."""
        self._set(
            tracking,
            event.originator_id,
            "status = 'running', started_at = %s, finished_at = NULL, worker = %s, "
            "lease_until = %s",
            event.timestamp,
            event.worker,
            event.lease_until,
        )

    @process_event.register
    def lease_renewed(self, event: Build.LeaseRenewed, tracking: Tracking) -> None:
        self._set(tracking, event.originator_id, "lease_until = %s", event.lease_until)

    @process_event.register
    def orphaned(self, event: Build.Orphaned, tracking: Tracking) -> None:
        """A dead holder's build starts over: queued, its jobs queued, artifacts uncollected."""
        t, build_id, aggregate = self.view.t, self._build_id(), event.originator_id

        def change(curs: Cursor[DictRow]) -> None:
            curs.execute(
                f"UPDATE {t('builds')} SET status = 'queued', started_at = NULL, "
                "finished_at = NULL, worker = NULL, lease_until = NULL WHERE aggregate_id = %s",
                (aggregate,),
            )
            curs.execute(
                f"UPDATE {t('build_jobs')} SET status = 'queued', started_at = NULL, "
                f"finished_at = NULL WHERE build_id = {build_id}",
                (aggregate,),
            )
            curs.execute(
                f"UPDATE {t('build_artifacts')} SET size = NULL, md5 = NULL, sha256 = NULL, "
                f"collected_at = NULL WHERE build_id = {build_id}",
                (aggregate,),
            )
            if event.tag is not None:
                tag = event.tag
                curs.execute(
                    f"INSERT INTO {t('build_tags')} SELECT %s, {build_id}, %s, %s, %s",
                    (tag["id"], aggregate, tag["user_id"], tag["name"], event.timestamp),
                )
            self._notify(curs, aggregate)

        self.view.write(tracking, change)

    def _job(self, tracking: Tracking, event: Any, assignments: str, *values: Any) -> None:
        sql = f"UPDATE {self.view.t('build_jobs')} SET {assignments} WHERE id = %s"

        def change(curs: Cursor[DictRow]) -> None:
            curs.execute(sql, (*values, event.job_id))
            self._notify(curs, event.originator_id)

        self.view.write(tracking, change)

    @process_event.register
    def job_started(self, event: Build.JobStarted, tracking: Tracking) -> None:
        self._job(tracking, event, "status = 'running', started_at = %s", event.timestamp)

    @process_event.register
    def job_finished(self, event: Build.JobFinished, tracking: Tracking) -> None:
        self._job(tracking, event, "status = %s, finished_at = %s", event.status, event.timestamp)

    @process_event.register
    def artifact_collected(self, event: Build.ArtifactCollected, tracking: Tracking) -> None:
        """`size` None: the file was missing; the artifact stays uncollected."""
        sql = (
            f"UPDATE {self.view.t('build_artifacts')} SET size = %s, md5 = %s, sha256 = %s, "
            "collected_at = %s WHERE id = %s"
        )
        collected = event.timestamp if event.size is not None else None
        values = (event.size, event.md5, event.sha256, collected, event.artifact_id)
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def finished(self, event: Build.Finished, tracking: Tracking) -> None:
        """The build ends; jobs still queued or running take its status (running ones end now)."""
        t, at, aggregate = self.view.t, event.timestamp, event.originator_id

        def change(curs: Cursor[DictRow]) -> None:
            curs.execute(
                f"UPDATE {t('builds')} SET status = %s, finished_at = %s, lease_until = NULL "
                "WHERE aggregate_id = %s",
                (event.status, at, aggregate),
            )
            curs.execute(
                f"UPDATE {t('build_jobs')} SET status = %s, finished_at = CASE "
                "WHEN status = 'running' THEN %s ELSE finished_at END "
                f"WHERE build_id = {self._build_id()} AND status IN ('queued', 'running')",
                (event.status, at, aggregate),
            )
            self._notify(curs, aggregate)

        self.view.write(tracking, change)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        values, ns = {"namespace_id": None}, event.public_id
        self.view.apply(tracking, lambda rows: rows.update("builds", values, namespace_id=ns))
