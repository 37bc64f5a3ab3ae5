"""Blobs streamed back over HTTP: the whole blob, or the one byte range asked for."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import BinaryIO

from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Stream

from application.ports import BlobStore

READ_CHUNK = 64 * 1024
RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range asked for, as first and last offsets; None for the whole blob.

    A malformed header or one asking for several ranges is ignored, as RFC 9110 allows; a
    range starting past the end is 416 with `Content-Range: bytes */<size>`.
    """
    match = RANGE.match((header or "").strip().replace(" ", ""))
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(size - int(last), 0), size - 1
        if int(last) == 0 or size == 0:
            raise _unsatisfiable(size)
        return start, end
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> HTTPException:
    return HTTPException(
        status_code=416,
        detail="Range Not Satisfiable",
        headers={"Content-Range": f"bytes */{size}"},
    )


def blob_response(blobs: BlobStore, key: str, media_type: str, range_header: str | None) -> Stream:
    """Stream a blob (or the one byte range asked for) with its length; 404 if it is gone.

    The blob is opened and its first chunk read here, so that a delete racing the download
    answers 404 or cannot cut it short (an open file, or an S3 GET under way, reads on).
    Reading starts at the range's first byte: a remote store fetches from there (S3: a
    ranged GET), never the bytes before it.
    """
    try:
        opened = blobs.open(key)
        handle = opened.__enter__()
    except FileNotFoundError:
        raise NotFoundException() from None
    try:
        size = handle.seek(0, os.SEEK_END)
        span = byte_range(range_header, size)
        start, end = span if span is not None else (0, size - 1)
        length = end - start + 1
        handle.seek(start)
        first = handle.read(min(READ_CHUNK, length)) if length > 0 else b""
    except FileNotFoundError:
        opened.__exit__(None, None, None)
        raise NotFoundException() from None
    except BaseException:
        opened.__exit__(None, None, None)
        raise
    headers = {
        "content-type": media_type,
        "content-length": str(length),
        "accept-ranges": "bytes",
    }
    if span is not None:
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    return Stream(
        _chunks(opened, handle, first, length - len(first)),
        status_code=206 if span is not None else 200,
        headers=headers,
    )


def _chunks(
    opened: contextlib.AbstractContextManager[BinaryIO],
    handle: BinaryIO,
    first: bytes,
    length: int,
) -> Iterator[bytes]:
    try:
        if first:
            yield first
        while length > 0 and (chunk := handle.read(min(READ_CHUNK, length))):
            length -= len(chunk)
            yield chunk
    finally:
        opened.__exit__(None, None, None)
