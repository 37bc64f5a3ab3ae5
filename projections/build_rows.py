"""Rows of the builds read model: the contract between its queries and the API.

`projections/builds.py` (the projection, its tables and `BuildQueries`) fills these;
`api/controllers/builds.py` renders them as the reference's JSON shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.builds import artifact_blob_key
from projections.rows import NamespaceRow, UserRow


@dataclass(frozen=True)
class TagRow:
    id: int
    build_id: int
    user_id: int
    name: str
    created_at: datetime
    user: UserRow | None = None


@dataclass(frozen=True)
class BuildRow:
    """A build with its owner (`user`, whose username is in its URL), namespace and tags."""

    id: int
    number: int
    user_id: int
    namespace_id: int | None
    manifest: str
    status: str
    output: str | None
    pinned: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    trigger: dict[str, Any]
    user: UserRow
    namespace: NamespaceRow | None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobRow:
    id: int
    build_id: int
    name: str
    stage: str
    commands: str
    status: str
    output: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class ArtifactRow:
    id: int
    build_id: int
    job_id: int
    user_id: int
    source: str
    name: str
    size: int | None
    md5: str | None
    sha256: str | None
    created_at: datetime
    deleted_at: datetime | None
    collected_at: datetime | None = None  # when the file was stored (Last-Modified)

    @property
    def blob_key(self) -> str:
        """Where the worker stores the collected file."""
        return artifact_blob_key(self.build_id, self.id)


@dataclass(frozen=True)
class BuildVariableRow:
    """`variable_id` is None for variables from the manifest's `env`."""

    id: int
    build_id: int
    variable_id: int | None
    key: str
    value: str
    masked: bool


@dataclass(frozen=True)
class BuildKeyRow:
    id: int
    build_id: int
    key_id: int | None
    name: str
    config: str
    location: str


@dataclass(frozen=True)
class BuildObjectRow:
    """An object attached to a build, placed at `destination` (its current object row, if live)."""

    id: int
    build_id: int
    object_id: int
    name: str
    destination: str
