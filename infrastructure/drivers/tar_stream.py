"""Single files in and out of tar streams: how the docker driver moves files through the
Docker Engine API (which copies tar archives to and from a container)."""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, BinaryIO

CHUNK = 64 * 1024
SPOOL = 8 * 1024 * 1024  # bytes of a placed file held in memory before a temp file
# File-mode bits the Engine API reports (Go's os.FileMode) for what is not a regular file:
# dir, symlink, device, named pipe, socket, char device, irregular.
NOT_REGULAR = (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
SYMLINK = 1 << 27


@contextmanager
def archive_of(target: str, data: BinaryIO, mode: int) -> Iterator[IO[bytes]]:
    """A tar archive, spooled to disk when large, holding `data` at absolute `target`."""
    with tempfile.SpooledTemporaryFile(SPOOL) as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar, _spooled(data) as (body, size):
            info = tarfile.TarInfo(target.lstrip("/"))
            info.size, info.mode, info.mtime = size, mode, int(time.time())
            tar.addfile(info, body)
        archive.seek(0)
        yield archive


def small_archive(target: str, body: bytes, mode: int) -> bytes:
    """A tar archive holding `body` at absolute `target`, in memory."""
    with archive_of(target, io.BytesIO(body), mode) as archive:
        return archive.read()


@contextmanager
def regular_file(chunks: Iterator[bytes], path: str) -> Iterator[Iterator[bytes]]:
    """The chunks of the one regular file in a streamed tar archive (FileNotFoundError
    if the archive's first member is not one); the archive is read as it is consumed."""
    with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as tar:
        member = tar.next()
        body = tar.extractfile(member) if member is not None and member.isreg() else None
        if body is None:
            raise FileNotFoundError(f"{path} is not a regular file")
        yield iter(lambda: body.read(CHUNK), b"")


@contextmanager
def _spooled(data: BinaryIO) -> Iterator[tuple[BinaryIO, int]]:
    """`data` in a seekable spool, with its size (a tar header comes before the body)."""
    with tempfile.SpooledTemporaryFile(SPOOL) as spool:
        shutil.copyfileobj(data, spool, CHUNK)
        size = spool.tell()
        spool.seek(0)
        yield spool, size  # type: ignore[misc]  # a SpooledTemporaryFile is a BinaryIO


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = iter(chunks)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            try:
                self._rest = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size
