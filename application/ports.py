"""Ports the use cases need from infrastructure: secrets at rest and blob storage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol


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
