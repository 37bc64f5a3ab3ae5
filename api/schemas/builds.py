"""Build shapes: the reference's (§5.1), with ids on jobs, artifacts and tags."""

from __future__ import annotations

from typing import Any

import msgspec

from api.schemas.namespaces import NamespaceOut
from api.schemas.users import UserOut


class BuildCreate(msgspec.Struct):
    manifest: str | None = None
    comment: str | None = None
    tags: list[str] | None = None


class BuildOut(msgspec.Struct):
    id: int
    user_id: int
    namespace_id: int | None
    number: int
    manifest: str
    status: str
    output: str | None
    tags: list[str]
    pinned: bool
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    url: str
    objects_url: str
    variables_url: str
    keys_url: str
    jobs_url: str
    artifacts_url: str
    tags_url: str
    trigger: dict[str, Any]
    user: UserOut
    namespace: NamespaceOut | None


class JobOut(msgspec.Struct):
    id: int
    build_id: int
    name: str
    stage: str
    commands: str
    status: str
    output: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    url: str
    build: BuildOut


class ArtifactOut(msgspec.Struct):
    """`size`, `md5` and `sha256` are null until a worker collects the file."""

    id: int
    user_id: int
    build_id: int
    job_id: int
    source: str
    name: str
    size: int | None
    md5: str | None
    sha256: str | None
    created_at: str | None
    deleted_at: str | None
    url: str
    user: UserOut | None
    build: BuildOut | None
    job: JobOut | None


class TagOut(msgspec.Struct):
    id: int
    user_id: int
    build_id: int
    name: str
    created_at: str | None
    url: str
    user: UserOut | None
    build: BuildOut | None


class BuildVariableOut(msgspec.Struct):
    """`variable_url` is null for variables from the manifest's `env`."""

    id: int
    build_id: int
    variable_id: int | None
    key: str
    value: str
    masked: bool
    variable_url: str | None
    build: BuildOut | None = None


class BuildKeyOut(msgspec.Struct):
    """A key placed in the build at `location`; never the private key itself."""

    id: int
    build_id: int
    key_id: int | None
    name: str
    config: str
    location: str
    key_url: str | None
    build: BuildOut | None = None


class BuildObjectOut(msgspec.Struct):
    """An object attached to a build: the object's fields (null once it was deleted),
    plus where the build places it.
    """

    id: int
    build_id: int
    name: str
    destination: str
    author_id: int | None
    user_id: int | None
    namespace_id: int | None
    type: str | None
    size: int | None
    md5: str | None
    sha256: str | None
    created_at: str | None
    url: str
    builds_url: str
