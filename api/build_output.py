"""Build output and artifacts over HTTP: a job's log as text (with ranges) or as a live
stream of server-sent events, and an artifact's file.

The event stream sends each stored chunk as one event (`id:` its seq, one `data:` line per
line of the chunk), resumes after `Last-Event-ID`, follows new chunks as the worker appends
them (woken by LISTEN/NOTIFY through `BuildLogs.subscribe`, so a waiting stream holds no
database connection), and ends with `event: end` (data: the job's status) once the job has
ended. Database reads run in worker threads; the event loop only waits.
"""

from __future__ import annotations

import functools
import mimetypes
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import anyio.to_thread
from litestar import Request, Response
from litestar.exceptions import NotFoundException
from litestar.response import Stream
from litestar.response.sse import ServerSentEventMessage

from api.blob_responses import blob_response, byte_range
from application.ports import BlobStore
from domain.builds import FINISHED
from domain.objects import BINARY, sniff_type
from infrastructure.build_logs import BuildLogs
from projections.build_rows import ArtifactRow
from projections.builds import BuildQueries

Req = Request[Any, Any, Any]

EVENT_STREAM = "text/event-stream"
TEXT = "text/plain"  # Litestar adds `; charset=utf-8`
KEEPALIVE = 15.0  # seconds of silence before a comment line keeps proxies from hanging up
BATCH = 500  # chunks read per query while catching up


def wants_events(request: Req) -> bool:
    """Whether the client asked for server-sent events (`Accept: text/event-stream`)."""
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip() == EVENT_STREAM for part in accept.split(","))


def last_event_id(request: Req) -> int:
    """The chunk a reconnecting client saw last (0: start from the beginning)."""
    raw = request.headers.get("last-event-id", "").strip()
    # ASCII digits only ("²".isdigit() is true), and within a bigint.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0


def text_response(text: str, range_header: str | None) -> Response[bytes]:
    """The log so far, or the one byte range asked for (206; 416 past the end)."""
    data = text.encode()
    span = byte_range(range_header, len(data))
    headers = {"accept-ranges": "bytes"}
    if span is None:
        return Response(data, media_type=TEXT, headers=headers)
    start, end = span
    headers["content-range"] = f"bytes {start}-{end}/{len(data)}"
    return Response(data[start : end + 1], media_type=TEXT, status_code=206, headers=headers)


def event_stream(
    builds: BuildQueries, logs: BuildLogs, build_id: int, job_id: int, after: int
) -> Stream:
    return Stream(
        _events(builds, logs, build_id, job_id, after),
        media_type=EVENT_STREAM,
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def _events(
    builds: BuildQueries, logs: BuildLogs, build_id: int, job_id: int, after: int
) -> AsyncIterator[bytes]:
    """Chunks after `after`, then new ones as they come, then `end` once the job has ended."""
    read = functools.partial(_read, builds, logs, build_id, job_id)
    with logs.subscribe(build_id) as subscription:
        quiet_since = time.monotonic()
        while True:
            subscription.clear()  # before reading: a change during the read wakes the wait
            status, chunks = await anyio.to_thread.run_sync(read, after)
            for seq, data in chunks:
                yield ServerSentEventMessage(data=data, id=seq).encode()
                after = seq
            if chunks:
                quiet_since = time.monotonic()
            if len(chunks) == BATCH:
                continue  # more is stored: keep catching up before anything else
            if status is None or status in FINISHED:
                yield ServerSentEventMessage(data=status or "", event="end").encode()
                return
            silence = KEEPALIVE - (time.monotonic() - quiet_since)
            if silence <= 0:
                yield ServerSentEventMessage(data=None, comment="keep-alive").encode()
                quiet_since = time.monotonic()
                continue
            await subscription.wait(silence)


def _read(
    builds: BuildQueries, logs: BuildLogs, build_id: int, job_id: int, after: int
) -> tuple[str | None, list[tuple[int, str]]]:
    """The job's status, then its chunks after `after`: reading the status first guarantees
    that every chunk written before the job ended is among the chunks read after it."""
    status = builds.job_status(job_id)
    return status, logs.chunks(build_id, job_id, after, limit=BATCH)


# --- artifacts ---------------------------------------------------------------------------


def artifact_response(blobs: BlobStore, row: ArtifactRow, request: Req) -> Response[Any]:
    """The artifact's file once collected: ranges, `Last-Modified`, `If-Modified-Since`."""
    if row.size is None or row.deleted_at is not None:
        raise NotFoundException()
    modified = (row.collected_at or row.created_at).astimezone(UTC).replace(microsecond=0)
    headers = {"last-modified": format_datetime(modified, usegmt=True)}
    since = _http_date(request.headers.get("if-modified-since"))
    if since is not None and modified <= since:
        return Response(b"", status_code=304, headers=headers)
    key = row.blob_key
    response = blob_response(
        blobs, key, _media_type(blobs, row.name, key), request.headers.get("range")
    )
    response.headers.update(headers)
    return response


def _media_type(blobs: BlobStore, name: str, key: str) -> str:
    """By the name's extension, else sniffed from the first bytes."""
    guessed = mimetypes.guess_type(name)[0]
    if guessed:
        return guessed
    try:
        with blobs.open(key) as handle:
            return sniff_type(handle.read(512))
    except FileNotFoundError:
        return BINARY  # gone: blob_response answers 404


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
