"""Rendering builds and their parts (jobs, artifacts, tags, what a build snapshotted) as
the reference's JSON shapes (§5.1), with ids on jobs, artifacts and tags."""

from __future__ import annotations

from typing import Any

from api.render import copied, links, namespace_out, struct_of, user_out
from api.schemas.builds import (
    ArtifactOut,
    BuildKeyOut,
    BuildObjectOut,
    BuildOut,
    BuildVariableOut,
    JobOut,
    TagOut,
)
from domain.variables import MASKED_VALUE
from projections.build_rows import (
    ArtifactRow,
    BuildKeyRow,
    BuildObjectRow,
    BuildRow,
    BuildVariableRow,
    JobRow,
    TagRow,
)
from projections.resources import ResourceRow


def build_url(base: str, row: BuildRow) -> str:
    return f"{base}/b/{row.user.username}/{row.number}"


def build_out(base: str, row: BuildRow) -> BuildOut:
    """A build, with the URLs of its parts (`<url>/jobs`, ...)."""
    url = build_url(base, row)
    return copied(
        BuildOut,
        row,
        tags=sorted(row.tags),
        url=url,
        **links(BuildOut, url),
        user=user_out(row.user),
        namespace=namespace_out(base, row.namespace) if row.namespace is not None else None,
    )


def job_out(build: BuildOut, row: JobRow) -> JobOut:
    return copied(JobOut, row, url=f"{build.url}/jobs/{row.name}", build=build)


def artifact_out(build: BuildOut, row: ArtifactRow) -> ArtifactOut:
    return copied(
        ArtifactOut,
        row,
        md5=row.md5 or None,
        sha256=row.sha256 or None,
        url=f"{build.url}/artifacts/{row.name}",
        user=None,
        build=build,
        job=None,
    )


def tag_out(build: BuildOut, row: TagRow) -> TagOut:
    user = user_out(row.user) if row.user is not None else None
    return copied(TagOut, row, url=f"{build.url}/tags/{row.name}", user=user, build=build)


def build_variable_out(base: str, row: BuildVariableRow) -> BuildVariableOut:
    url = None if row.variable_id is None else f"{base}/variables/{row.variable_id}"
    value = MASKED_VALUE if row.masked else row.value
    return copied(BuildVariableOut, row, value=value, variable_url=url, build=None)


def build_key_out(base: str, row: BuildKeyRow) -> BuildKeyOut:
    url = None if row.key_id is None else f"{base}/keys/{row.key_id}"
    return copied(BuildKeyOut, row, key_url=url, build=None)


def build_object_out(base: str, row: BuildObjectRow, live: ResourceRow | None) -> BuildObjectOut:
    """Where the build places the object, with the object's fields while it lives."""
    f: dict[str, Any] = live.fields if live is not None else {}
    url = f"{base}/objects/{row.object_id}"
    return struct_of(
        BuildObjectOut,
        f.get,
        id=row.object_id,
        build_id=row.build_id,
        name=row.name,
        destination=row.destination,
        md5=f.get("md5") or None,
        sha256=f.get("sha256") or None,
        url=url,
        builds_url=f"{url}/builds",
    )
