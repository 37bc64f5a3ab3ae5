"""Queries on the builds read model (`Marid.builds`); rows are those of `build_rows`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.builds import FINISHED
from projections.build_rows import (
    ArtifactRow,
    BuildKeyRow,
    BuildObjectRow,
    BuildRow,
    BuildVariableRow,
    JobRow,
    TagRow,
)
from projections.namespace_queries import namespace_from
from projections.rows import Page, Queries, like_pattern, user_columns, user_from

_NS_COLS = (
    "id",
    "user_id",
    "root_id",
    "parent_id",
    "name",
    "path",
    "description",
    "visibility",
    "created_at",
)
_BUILD_COLS = (
    "id",
    "number",
    "user_id",
    "namespace_id",
    "manifest",
    "status",
    "pinned",
    "created_at",
    "started_at",
    "finished_at",
    "trigger",
)
_ENDED = ", ".join(f"'{status}'" for status in sorted(FINISHED))


def output_of(alias: str, build_id: str, job_id: str | None) -> str:
    """SQL for the `output` of a build or job: its whole log once it has ended, else NULL.

    The log is `marid_build_output` (infrastructure/build_logs.py), which the worker fills
    while it runs; the reference's `output` is only written on completion. A job's output
    is its own chunks (`job_id`); a build's (`job_id` None) is every chunk of the build,
    its own lines and each job's output, in the order written (`seq`), which the worker
    keeps in run order. One range of the table's primary key either way. NULL as well
    when nothing was ever written.
    """
    job = "" if job_id is None else f" AND o.job_id = {job_id}"
    return (
        f"CASE WHEN {alias}.status IN ({_ENDED}) THEN (SELECT string_agg(o.data, '' "
        f"ORDER BY o.seq) FROM marid_build_output o WHERE o.build_id = {build_id}{job}) "
        "END AS output"
    )


_JOB_COLS = (
    "j.id, j.build_id, j.name, j.stage, j.commands, j.status, j.created_at, j.started_at, "
    f"j.finished_at, {output_of('j', 'j.build_id', 'j.id')}"
)

SELECT = (
    "SELECT "
    + ", ".join(f"b.{c}" for c in _BUILD_COLS)
    + f", {output_of('b', 'b.id', None)}"
    + ", ARRAY(SELECT t.name FROM build_tags t WHERE t.build_id = b.id "
    'ORDER BY t.name COLLATE "C") AS tags, '
    + ", ".join(f"n.{c} AS n_{c}" for c in _NS_COLS)
    + ", NULL AS p_id, "
    + f"{user_columns('u', 'u_')}, {user_columns('nu', 'nu_')} "
    "FROM builds b JOIN users u ON u.id = b.user_id "
    "LEFT JOIN namespaces n ON n.id = b.namespace_id LEFT JOIN users nu ON nu.id = n.user_id "
)

_TAGS = (
    "SELECT t.id, t.build_id, t.user_id, t.name, t.created_at, "
    f"{user_columns('u', 'u_')} FROM build_tags t LEFT JOIN users u ON u.id = t.user_id "
)


# Builds a signed-in caller sees in the top-level list: their own, and those in trees they
# collaborate on (a tree they own holds only builds they own).
VISIBLE = (
    "(b.user_id = %(caller)s OR b.namespace_id IN (SELECT m.id FROM namespaces m "
    "WHERE m.root_id IN (SELECT c.root_id FROM collaborators c WHERE c.user_id = %(caller)s)))"
)
ORDER = " ORDER BY b.created_at DESC, b.id DESC"


def statuses(status: str) -> list[str]:
    """The statuses a status filter matches: `passed` includes `passed_with_failures`."""
    return [status, "passed_with_failures"] if status == "passed" else [status]


@dataclass(frozen=True)
class BuildFilters:
    """Filters of the build lists: exact `tag`, tag-name `search`, `status`, only `pinned`."""

    tag: str | None = None
    search: str | None = None
    status: str | None = None
    pinned: bool = False

    def where(self) -> tuple[str, dict[str, Any]]:
        """SQL conditions on `b` (joined with AND, leading AND included) and their params."""
        sql = ""
        params: dict[str, Any] = {}
        if self.tag:
            sql += " AND EXISTS (SELECT 1 FROM build_tags t WHERE t.build_id = b.id "
            sql += "AND t.name = %(f_tag)s)"
            params["f_tag"] = self.tag
        if self.search:
            sql += " AND EXISTS (SELECT 1 FROM build_tags t WHERE t.build_id = b.id "
            sql += "AND t.name ILIKE %(f_search)s)"
            params["f_search"] = like_pattern(self.search)
        if self.status:
            sql += " AND b.status = ANY(%(f_status)s)"
            params["f_status"] = statuses(self.status)
        if self.pinned:
            sql += " AND b.pinned"
        return sql, params


class BuildQueries(Queries):
    def get(self, username: str, number: int) -> BuildRow | None:
        row = self.fetch_one(
            SELECT + "WHERE lower(u.username) = lower(%s) AND b.number = %s", (username, number)
        )
        return None if row is None else build_from(row)

    def get_by_id(self, build_id: int) -> BuildRow | None:
        row = self.fetch_one(SELECT + "WHERE b.id = %s", (build_id,))
        return None if row is None else build_from(row)

    def visible(
        self, caller_id: int, filters: BuildFilters, page: int, per_page: int
    ) -> tuple[list[BuildRow], Page]:
        """The caller's builds and those in trees they collaborate on, newest first."""
        return self._page(VISIBLE, {"caller": caller_id}, filters, page, per_page)

    def in_namespace(
        self, namespace_id: int, filters: BuildFilters, page: int, per_page: int
    ) -> tuple[list[BuildRow], Page]:
        """Builds in exactly this namespace (not its children), newest first."""
        return self._page("b.namespace_id = %(ns)s", {"ns": namespace_id}, filters, page, per_page)

    def for_object(
        self, object_id: int, filters: BuildFilters, page: int, per_page: int
    ) -> tuple[list[BuildRow], Page]:
        """Builds the object was attached to at submit time, newest first."""
        where = (
            "EXISTS (SELECT 1 FROM build_objects o "
            "WHERE o.build_id = b.id AND o.object_id = %(obj)s)"
        )
        return self._page(where, {"obj": object_id}, filters, page, per_page)

    def latest_in_namespace(self, namespace_id: int) -> BuildRow | None:
        row = self.fetch_one(
            SELECT + "WHERE b.namespace_id = %s" + ORDER + " LIMIT 1", (namespace_id,)
        )
        return None if row is None else build_from(row)

    def _page(
        self,
        where: str,
        params: dict[str, Any],
        filters: BuildFilters,
        page: int,
        per_page: int,
    ) -> tuple[list[BuildRow], Page]:
        extra, extra_params = filters.where()
        where, params = where + extra, {**params, **extra_params}
        total = self.count(f"SELECT count(*) AS count FROM builds b WHERE {where}", params)
        at = Page.clamp(page, per_page, total)
        rows = self.fetch_all(
            SELECT + f"WHERE {where}{ORDER} LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": per_page, "offset": at.offset},
        )
        return [build_from(row) for row in rows], at

    def jobs(
        self, build_id: int, name: str | None = None, status: str | None = None
    ) -> list[JobRow]:
        """The build's jobs in plan order (setup first); `name` is a substring filter."""
        sql = f"SELECT {_JOB_COLS} FROM build_jobs j WHERE build_id = %(build)s"
        params: dict[str, Any] = {"build": build_id}
        if name:
            sql += " AND name ILIKE %(name)s"
            params["name"] = like_pattern(name)
        if status:
            sql += " AND status = ANY(%(status)s)"
            params["status"] = statuses(status)
        return [JobRow(**row) for row in self.fetch_all(sql + " ORDER BY position", params)]

    def job(self, build_id: int, name: str) -> JobRow | None:
        row = self.fetch_one(
            f"SELECT {_JOB_COLS} FROM build_jobs j WHERE build_id = %s AND name = %s "
            "ORDER BY position LIMIT 1",
            (build_id, name),
        )
        return None if row is None else JobRow(**row)

    def job_status(self, job_id: int) -> str | None:
        """Just a job's status (output streams poll it; the full row carries the log)."""
        row = self.fetch_one("SELECT status FROM build_jobs WHERE id = %s", (job_id,))
        return None if row is None else str(row["status"])

    def job_id(self, build_id: int, name: str) -> int | None:
        """The id of the build's (first) job with exactly this name."""
        row = self.fetch_one(
            "SELECT id FROM build_jobs WHERE build_id = %s AND name = %s ORDER BY position LIMIT 1",
            (build_id, name),
        )
        return None if row is None else int(row["id"])

    def claimable(self, drivers: Sequence[str], now: datetime, limit: int) -> list[int]:
        """Ids of builds a worker with these driver types may claim, oldest first: queued
        ones, and running ones whose holder's lease ran out before `now` (orphans): the
        lease its claim recorded and its heartbeats (`infrastructure/leases.py`) both.

        Only a hint: the claim itself (a command on the Build aggregate) decides.
        """
        rows = self.fetch_all(
            "SELECT id FROM builds b WHERE driver->>'type' = ANY(%s) AND (status = 'queued' "
            "OR (status = 'running' AND lease_until < %s AND NOT EXISTS (SELECT FROM "
            "marid_build_leases l WHERE l.build_id = b.id AND l.lease_until >= %s))) "
            "ORDER BY created_at, id LIMIT %s",
            (list(drivers), now, now, limit),
        )
        return [int(row["id"]) for row in rows]

    def artifacts(
        self, build_id: int, search: str | None, page: int, per_page: int
    ) -> tuple[list[ArtifactRow], Page]:
        """The build's artifacts by name; `search` is a substring of the name."""
        params = {"build": build_id, "search": like_pattern(search)}
        where = "build_id = %(build)s AND name ILIKE %(search)s"
        total = self.count(f"SELECT count(*) AS count FROM build_artifacts WHERE {where}", params)
        at = Page.clamp(page, per_page, total)
        rows = self.fetch_all(
            f"SELECT * FROM build_artifacts WHERE {where} ORDER BY name, id "
            "LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": per_page, "offset": at.offset},
        )
        return [ArtifactRow(**row) for row in rows], at

    def artifact(self, build_id: int, name: str) -> ArtifactRow | None:
        row = self.fetch_one(
            "SELECT * FROM build_artifacts WHERE build_id = %s AND name = %s ORDER BY id LIMIT 1",
            (build_id, name),
        )
        return None if row is None else ArtifactRow(**row)

    def tags(self, build_id: int) -> list[TagRow]:
        """The build's tags by name (byte order), each with the user who added it."""
        rows = self.fetch_all(
            _TAGS + 'WHERE t.build_id = %s ORDER BY t.name COLLATE "C"', (build_id,)
        )
        return [tag_from(row) for row in rows]

    def tag(self, build_id: int, name: str) -> TagRow | None:
        row = self.fetch_one(_TAGS + "WHERE t.build_id = %s AND t.name = %s", (build_id, name))
        return None if row is None else tag_from(row)

    def variables(self, build_id: int) -> list[BuildVariableRow]:
        """The build's variables by key; masked values as stored (sealed)."""
        rows = self.fetch_all(
            "SELECT * FROM build_variables WHERE build_id = %s ORDER BY key, id", (build_id,)
        )
        return [BuildVariableRow(**row) for row in rows]

    def keys(self, build_id: int) -> list[BuildKeyRow]:
        rows = self.fetch_all(
            "SELECT id, build_id, key_id, name, config, location FROM build_keys "
            "WHERE build_id = %s ORDER BY name, id",
            (build_id,),
        )
        return [BuildKeyRow(**row) for row in rows]

    def objects(
        self, build_id: int, search: str | None, page: int, per_page: int
    ) -> tuple[list[BuildObjectRow], Page]:
        """The objects attached to the build, by name; `search` is a substring of the name."""
        params = {"build": build_id, "search": like_pattern(search)}
        where = "build_id = %(build)s AND name ILIKE %(search)s"
        total = self.count(f"SELECT count(*) AS count FROM build_objects WHERE {where}", params)
        at = Page.clamp(page, per_page, total)
        rows = self.fetch_all(
            f"SELECT * FROM build_objects WHERE {where} ORDER BY name, id "
            "LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": per_page, "offset": at.offset},
        )
        return [BuildObjectRow(**row) for row in rows], at


def tag_from(row: dict[str, Any]) -> TagRow:
    user = user_from(row) if row["u_id"] is not None else None
    fields = {k: row[k] for k in ("id", "build_id", "user_id", "name", "created_at")}
    return TagRow(**fields, user=user)


def build_from(row: dict[str, Any]) -> BuildRow:
    namespace = None
    if row["n_id"] is not None:
        owner = {f"u_{c}": row[f"nu_{c}"] for c in ("id", "username", "email", "created_at")}
        namespace = namespace_from({**row, **owner})
    fields = {c: row[c] for c in (*_BUILD_COLS, "output")}
    return BuildRow(**fields, user=user_from(row), namespace=namespace, tags=list(row["tags"]))
