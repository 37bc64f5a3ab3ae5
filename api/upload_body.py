"""An upload's body read chunk by chunk, and its file streamed into the blob store.

What every form of upload shares (`api.uploads` reads raw, JSON and urlencoded bodies,
`api.multipart` multipart forms): the body with its size cap and a client that may go
away, the first bytes of a file, and the file's chunks pulled into `BlobStore.put` in a
worker thread one at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from litestar.exceptions import HTTPException, InternalServerException

from api.errors import ClientDisconnectedError
from application.ports import BlobInfo, BlobStore
from domain.errors import ValidationError
from infrastructure.blobs import BlobTooLargeError

Reader = Callable[[], Coroutine[Any, Any, bytes]]

HEAD_SIZE = 512  # enough to sniff a content type or check a magic number
FORM_MAX = 1024 * 1024  # everything but the file: fields, other parts, JSON or urlencoded bodies
# After a refusal, read up to this much of what the client is still sending, so that it
# gets the answer instead of a reset connection (as Go's server does).
DRAIN_MAX = 16 * 1024 * 1024


def format_size(size: int) -> str:
    """Djinn's size text: a whole number (rounded down) of the largest unit, base 1024."""
    units = ("B", "KB", "MB", "GB", "TB", "PB")
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size //= 1024
        unit += 1
    return f"{size} {units[unit]}"


def too_large(limit: int, field: str = "file") -> ValidationError:
    return ValidationError({field: [f"file too large, cannot exceed {format_size(limit)}"]})


@dataclass(frozen=True)
class UploadStart:
    """What is known when a file's content begins, before any of it is stored.

    `final` is true when no field can follow (raw bodies); in a multipart form more
    fields may come after the file part. `content_type` is the type the client declared
    (None when it declared none); `head` holds the first bytes (up to HEAD_SIZE).
    """

    fields: dict[str, str]
    final: bool
    content_type: str | None
    head: bytes


# Called in a worker thread when a file begins: check what can be checked (raise to refuse,
# and nothing is stored) and return the blob key to store the file under.
Begin = Callable[[UploadStart], str]


@dataclass(frozen=True)
class Upload:
    """A received upload: its fields and, when a non-empty file was sent, where it is stored."""

    fields: dict[str, str]
    content_type: str | None
    head: bytes
    key: str | None
    blob: BlobInfo | None


class Body:
    """The request body, chunk by chunk, with a size cap and a client that may go away."""

    def __init__(self, stream: AsyncIterator[bytes], cap: int | None) -> None:
        self.stream = stream
        self.cap = cap
        self.total = 0
        self.ended = False

    async def _next(self) -> bytes:
        if self.ended:
            return b""
        try:
            chunk = await self.stream.__anext__()
        except StopAsyncIteration:
            chunk = b""
        except InternalServerException:  # Litestar's answer to a client that left mid-body
            self.ended = True
            raise ClientDisconnectedError from None
        if not chunk:
            self.ended = True
        return chunk

    async def read(self) -> bytes:
        """The next chunk; b"" at the end."""
        chunk = await self._next()
        self.total += len(chunk)
        if self.cap is not None and self.total > self.cap:
            raise HTTPException(status_code=413)
        return chunk

    async def read_all(self, cap: int) -> bytes:
        data = bytearray()
        while chunk := await self.read():
            data += chunk
            if len(data) > cap:
                raise HTTPException(status_code=413)
        return bytes(data)

    async def drain(self) -> None:
        """Read (and drop) what the client is still sending, up to DRAIN_MAX."""
        drained = 0
        with contextlib.suppress(Exception):
            while drained < DRAIN_MAX and (chunk := await self._next()):
                drained += len(chunk)


async def read_head(read: Reader) -> bytes:
    """The first chunks of a file, at least HEAD_SIZE bytes unless it is shorter."""
    head = b""
    while len(head) < HEAD_SIZE and (chunk := await read()):
        head += chunk
    return head


async def store_file(
    blobs: BlobStore,
    key: str,
    head: bytes,
    read: Reader,
    limit: int | None,
) -> BlobInfo:
    """Stream `head` and then what `read` gives into the store, from a worker thread."""

    def chunks() -> Iterator[bytes]:
        yield head
        while chunk := anyio.from_thread.run(read):  # blocks this worker, not the loop
            yield chunk

    try:
        return await anyio.to_thread.run_sync(blobs.put, key, chunks(), limit)
    except BlobTooLargeError as exc:
        raise too_large(exc.limit) from None


async def receive_raw(
    body: Body,
    fields: dict[str, str],
    declared: str | None,
    blobs: BlobStore,
    begin: Begin,
    limit: int | None,
) -> Upload:
    """A raw body: the file itself (fields came in the query string)."""
    head = await read_head(body.read)
    if not head:
        return Upload(fields, declared, b"", None, None)
    start = UploadStart(fields, True, declared, head[:HEAD_SIZE])
    key = await anyio.to_thread.run_sync(begin, start)
    blob = await store_file(blobs, key, head, body.read, limit)
    return Upload(fields, declared, start.head, key, blob)
