"""Queries on the parts of a build in the builds read model: jobs (with their output),
artifacts, tags and the submit-time snapshot of variables, keys and objects."""

from __future__ import annotations

from typing import Any

from domain.builds import FINISHED
from projections.build_rows import (
    ArtifactRow,
    BuildKeyRow,
    BuildObjectRow,
    BuildVariableRow,
    JobRow,
    TagRow,
)
from projections.rows import Page, Queries, like_pattern, user_columns, user_from

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

_TAGS = (
    "SELECT t.id, t.build_id, t.user_id, t.name, t.created_at, "
    f"{user_columns('u', 'u_')} FROM build_tags t LEFT JOIN users u ON u.id = t.user_id "
)


def statuses(status: str) -> list[str]:
    """The statuses a status filter matches: `passed` includes `passed_with_failures`."""
    return [status, "passed_with_failures"] if status == "passed" else [status]


class BuildPartQueries(Queries):
    """The parts of one build, by its id."""

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

    def artifacts(
        self, build_id: int, search: str | None, page: int, per_page: int
    ) -> tuple[list[ArtifactRow], Page]:
        """The build's artifacts by name; `search` is a substring of the name."""
        rows, at = self._named("build_artifacts", build_id, search, page, per_page)
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
        rows, at = self._named("build_objects", build_id, search, page, per_page)
        return [BuildObjectRow(**row) for row in rows], at

    def _named(
        self, table: str, build_id: int, search: str | None, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], Page]:
        """A page of the build's rows of `table` by name; `search` is a substring of it."""
        params = {"build": build_id, "search": like_pattern(search)}
        where = "build_id = %(build)s AND name ILIKE %(search)s"
        return self.page(f"SELECT * FROM {table}", table, where, "name, id", params, page, per_page)


def tag_from(row: dict[str, Any]) -> TagRow:
    user = user_from(row) if row["u_id"] is not None else None
    fields = {k: row[k] for k in ("id", "build_id", "user_id", "name", "created_at")}
    return TagRow(**fields, user=user)
