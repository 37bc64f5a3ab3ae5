"""Ports the use cases need from infrastructure: secrets, blob storage, build inputs,
build leases."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol


class SecretBox(Protocol):
    """Encrypts secrets before they reach an event; decrypts them for use."""

    def seal(self, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str: ...


@dataclass(frozen=True)
class BlobInfo:
    """What was stored: size in bytes and the digests computed while streaming."""

    size: int
    md5: str
    sha256: str


class BlobWriter(Protocol):
    def write(self, chunk: bytes) -> None: ...


class BlobStore(Protocol):
    """Large binary content (objects, images, artifacts, logs) kept outside the event store."""

    def put(self, key: str, chunks: Iterator[bytes], limit: int | None = None) -> BlobInfo: ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]: ...

    def size(self, key: str) -> int | None: ...

    def delete(self, key: str) -> None: ...

    def listing(self) -> Iterator[tuple[str, datetime]]:
        """Every stored key with the time it was last written (for the orphan sweeper)."""
        ...


class BuildInputs(Protocol):
    """What a build snapshots at submit time: an owner's personal and a namespace's resources.

    Each list holds the owner's personal items (no namespace) first, then the namespace's;
    secret values stay exactly as stored (sealed).
    """

    def variables(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        """Dicts with `variable_id`, `key`, `value` (sealed when masked) and `masked`."""
        ...

    def keys(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        """Dicts with `key_id`, `name`, `config` and `key` (sealed)."""
        ...

    def objects(self, owner_id: int, namespace_id: int | None) -> list[dict[str, Any]]:
        """Dicts with `object_id` and `name`."""
        ...


class NamespaceMembers(Protocol):
    """What lives in namespaces and goes with them when they are deleted.

    Read from the read models: the use case loads each aggregate found and checks it
    still lives there before deleting it, so a stale row can never delete the wrong one.
    """

    def crons(self, namespace_ids: Collection[int]) -> list[int]: ...

    def webhooks(self, namespace_ids: Collection[int]) -> list[int]: ...


class Leases(Protocol):
    """How long the worker holding each build may keep it: heartbeats outside the event log.

    A build has at most one lease, held by one claim. Its `Claimed` event records the claim
    and its first lease; renewals only move the lease here, and a build's lease runs out at
    the later of the two. Taking a lease over is atomic, so of two workers that both found
    a lease expired one gets it, and a worker whose lease was taken cannot renew it.
    """

    def acquire(self, build_id: int, claim: str, until: datetime, now: datetime) -> bool:
        """Hold the build's lease for `claim` until `until`, unless another claim holds a
        lease that lasts past `now`; whether `claim` holds it now."""
        ...

    def renew(self, build_id: int, claim: str, until: datetime) -> bool:
        """Extend `claim`'s lease to `until`; False when `claim` no longer holds the lease."""
        ...

    def expiry(self, build_id: int, claim: str) -> datetime | None:
        """When `claim`'s lease on the build runs out; None when `claim` holds none."""
        ...

    def release(self, build_id: int, claim: str) -> None:
        """Drop `claim`'s lease (its run has ended); nothing when it holds none."""
        ...

    def now(self) -> datetime | None:
        """The time leases are measured by, where they are kept (the database's clock, so
        that workers whose clocks disagree agree on leases); None: the application's."""
        ...
