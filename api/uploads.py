"""Files over HTTP: uploads streamed into a BlobStore, and blobs streamed back with ranges.

An upload is a raw body (fields in the query string) or a multipart form (fields and a
file part); JSON and urlencoded bodies carry fields only. Nothing is held whole in
memory: the body is read chunk by chunk, multipart forms are parsed incrementally
(Litestar's own form parsing keeps every part), and the blocking `BlobStore.put` runs in
a worker thread that pulls the file's chunks from the event loop one at a time.

A failed or interrupted upload leaves nothing behind: the store removes its temporary
file, a blob stored before a later step fails is deleted, and the caller deletes the blob
if its own save fails (`discard_on_error`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import deque
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Coroutine,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

import anyio
import anyio.from_thread
import anyio.to_thread
import msgspec
from litestar import Request
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    NotFoundException,
)
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)
from litestar.response import Stream

# The parser Litestar itself uses; its push interface lets us parse a stream incrementally.
from multipart import (
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
    parse_options_header,
)

from api.decoding import label, not_json, record_input_errors
from api.errors import NUL
from application.ports import BlobInfo, BlobStore
from domain.errors import ValidationError
from infrastructure.blobs import BlobTooLargeError

Req = Request[Any, Any, Any]
Reader = Callable[[], Coroutine[Any, Any, bytes]]

HEAD_SIZE = 512  # enough to sniff a content type or check a magic number
FIELD_MAX = 16 * 1024  # one text field of a multipart form
MAX_PARTS = 64
FORM_MAX = 1024 * 1024  # everything but the file: fields, other parts, JSON or urlencoded bodies
# After a refusal, read up to this much of what the client is still sending, so that it
# gets the answer instead of a reset connection (as Go's server does).
DRAIN_MAX = 16 * 1024 * 1024
READ_CHUNK = 64 * 1024
JSON = "application/json"
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
INTERRUPTED = "Upload interrupted: the client disconnected"


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


async def receive_upload(
    request: Req,
    blobs: BlobStore,
    begin: Begin,
    *,
    limit: int | None,
    file_field: str = "file",
    json_fields: Collection[str] = (),
) -> Upload:
    """Read an upload, storing its file (at most `limit` bytes) under the key `begin` gives.

    Fields are the first value of each name. An empty file counts as no file. The route
    must set `request_max_body_size=None`: the limits are enforced here, per part. A JSON
    body (routes that take one) holds `json_fields`; any other field in it is ignored.
    """
    media, params = parse_options_header(request.headers.get("content-type", ""))
    cap = None if limit is None or media != MULTIPART else limit + FORM_MAX
    body = _Body(request.stream(), cap)
    try:
        if media == MULTIPART:
            form = _Multipart(body, params.get("boundary", ""), blobs, begin, limit, file_field)
            return await form.receive()
        if media in (JSON, URLENCODED):
            content = await body.read_all(FORM_MAX)
            # `curl -d '{...}'` declares a form: a body that is a JSON object is read as
            # JSON, as every other route reads it whatever the declared type.
            is_json = media == JSON or content.lstrip().startswith(b"{")
            fields = (
                _json_fields(request, content, json_fields)
                if is_json
                else _urlencoded_fields(content)
            )
            return Upload(fields, None, b"", None, None)
        declared = request.headers.get("content-type", "").strip() or None
        fields = _first_values(request.query_params.multi_items())
        return await _receive_raw(body, fields, declared, blobs, begin, limit)
    except Exception:
        await body.drain()
        raise


def upload_operation(fields: Sequence[str], file_field: str = "file") -> type[Operation]:
    """The OpenAPI operation of an upload route: its two body forms and the query fields.

    The handler reads the body itself (no `data` parameter), so Litestar cannot describe it.
    """
    text = Schema(type=OpenAPIType.STRING)
    binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
    form = Schema(
        type=OpenAPIType.OBJECT,
        properties={**{f: text for f in fields}, file_field: binary},
        required=[file_field],
    )
    body = RequestBody(
        content={
            "application/octet-stream": OpenAPIMediaType(schema=binary),
            MULTIPART: OpenAPIMediaType(schema=form),
        },
        description="The file as a raw body (any type but JSON and forms), or a multipart form.",
        required=True,
    )
    query = [
        Parameter(name=f, param_in="query", schema=text, description="With a raw body.")
        for f in fields
    ]

    @dataclass
    class UploadOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = body
            self.parameters = [*(self.parameters or []), *query]

    return UploadOperation


@contextlib.contextmanager
def discard_on_error(blobs: BlobStore, upload: Upload) -> Iterator[None]:
    """Delete the upload's blob if the block fails (its resource was not saved)."""
    try:
        yield
    except BaseException:
        if upload.key is not None:
            blobs.delete(upload.key)
        raise


class _Body:
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
            raise ClientException(INTERRUPTED) from None
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


async def _read_head(read: Reader) -> bytes:
    """The first chunks of a file, at least HEAD_SIZE bytes unless it is shorter."""
    head = b""
    while len(head) < HEAD_SIZE and (chunk := await read()):
        head += chunk
    return head


async def _store(
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


async def _receive_raw(
    body: _Body,
    fields: dict[str, str],
    declared: str | None,
    blobs: BlobStore,
    begin: Begin,
    limit: int | None,
) -> Upload:
    head = await _read_head(body.read)
    if not head:
        return Upload(fields, declared, b"", None, None)
    start = UploadStart(fields, True, declared, head[:HEAD_SIZE])
    key = await anyio.to_thread.run_sync(begin, start)
    blob = await _store(blobs, key, head, body.read, limit)
    return Upload(fields, declared, start.head, key, blob)


class _End:
    """The end of a multipart form."""


END = _End()


class _Multipart:
    """A multipart form parsed as it arrives; the file part goes straight to the store."""

    def __init__(
        self,
        body: _Body,
        boundary: str,
        blobs: BlobStore,
        begin: Begin,
        limit: int | None,
        file_field: str,
    ) -> None:
        if not boundary:
            raise ClientException("Invalid multipart/form-data: no boundary")
        try:
            self.parser = PushMultipartParser(boundary, max_segment_count=MAX_PARTS)
        except ParserError:
            raise ClientException("Invalid multipart/form-data: bad boundary") from None
        self.body = body
        self.blobs = blobs
        self.begin = begin
        self.limit = limit
        self.file_field = file_field
        self.events: deque[MultipartSegment | bytes | None] = deque()
        self.part_done = True
        self.form_bytes = 0

    async def receive(self) -> Upload:
        fields: dict[str, str] = {}
        file_seen = False
        upload = Upload(fields, None, b"", None, None)
        try:
            while (segment := await self._next_part()) is not None:
                if segment.name == self.file_field and not file_seen:
                    file_seen = True
                    upload = await self._receive_file(segment, fields)
                    continue
                value = await self._read_field(segment)
                if segment.filename is None and segment.name and segment.name not in fields:
                    fields[segment.name] = _field_text(segment, value)
        except BaseException:
            if upload.key is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.blobs.delete, upload.key)
            raise
        return Upload(fields, upload.content_type, upload.head, upload.key, upload.blob)

    async def _receive_file(self, segment: MultipartSegment, fields: dict[str, str]) -> Upload:
        declared = dict(segment.headerlist).get("Content-Type") or None
        head = await _read_head(self._read_part)
        if not head:
            return Upload(fields, declared, b"", None, None)
        start = UploadStart(dict(fields), False, declared, head[:HEAD_SIZE])
        key = await anyio.to_thread.run_sync(self.begin, start)
        blob = await _store(self.blobs, key, head, self._read_part, self.limit)
        return Upload(fields, declared, start.head, key, blob)

    async def _event(self) -> MultipartSegment | bytes | _End | None:
        """The next parser event; END once the form is complete and the body read."""
        while not self.events:
            if self.parser.closed:
                return END
            chunk = await self.body.read()
            try:
                self.events.extend(self.parser.parse(chunk))
            except ParserLimitReached:
                raise ClientException("Invalid multipart/form-data: too many parts") from None
            except ParserError:
                raise ClientException("Invalid multipart/form-data") from None
        return self.events.popleft()

    async def _next_part(self) -> MultipartSegment | None:
        """The next part's headers, or None after the last part."""
        while not self.part_done:
            await self._read_part()
        event = await self._event()
        if event is END:
            return None
        if not isinstance(event, MultipartSegment):
            raise ClientException("Invalid multipart/form-data")
        self.part_done = False
        return event

    async def _read_part(self) -> bytes:
        """The next chunk of the current part's content; b"" at its end."""
        if self.part_done:
            return b""
        event = await self._event()
        if event is None:
            self.part_done = True
            return b""
        if not isinstance(event, bytes):
            raise ClientException("Invalid multipart/form-data")
        return event

    async def _read_field(self, segment: MultipartSegment) -> bytes:
        """A part that is not the file: kept if it is a small text field, else dropped."""
        value = bytearray()
        while chunk := await self._read_part():
            self.form_bytes += len(chunk)
            if self.form_bytes > FORM_MAX:
                raise HTTPException(status_code=413)
            if segment.filename is None:
                value += chunk
                if len(value) > FIELD_MAX:
                    name = segment.name or "field"
                    raise ValidationError({name: [f"{label(name)} is too long"]})
        return bytes(value)


def _field_text(segment: MultipartSegment, value: bytes) -> str:
    name = segment.name or ""
    try:
        text = value.decode(segment.charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise ValidationError({name: [f"{label(name)} is not valid text"]}) from None
    if NUL in text:
        raise ValidationError({name: [f"{label(name)} cannot contain NUL characters"]})
    return text


def _first_values(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in items:
        fields.setdefault(key, value)
    return fields


def _json_fields(request: Req, body: bytes, known: Collection[str]) -> dict[str, str]:
    """The string fields of a JSON object body.

    A value of another type is taken out and recorded as a field error of the request
    (see `api.decoding`), so that it is reported with every other problem; the route
    ignores fields it does not know, whatever their type.
    """
    if not body.strip():
        return {}
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise ClientException(not_json(body)) from None
    if not isinstance(data, dict):
        raise ClientException("Request body must be a JSON object")
    errors: dict[str, list[str]] = {}
    fields: dict[str, str] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if isinstance(value, str) and NUL not in value:
            fields[key] = value
        elif isinstance(value, str):
            errors[key] = [f"{label(key)} cannot contain NUL characters"]
        elif value is not None:
            errors[key] = [f"{label(key)} must be a string"]
    if errors:
        record_input_errors(request, errors)
    return fields


def _urlencoded_fields(body: bytes) -> dict[str, str]:
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    fields = _first_values(pairs)
    bad = [k for k, v in fields.items() if NUL in k or NUL in v]
    if bad:
        raise ValidationError({k: [f"{label(k)} cannot contain NUL characters"] for k in bad})
    return fields


# --- downloads ---------------------------------------------------------------------------

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

    The file is opened here, so that a delete racing the download cannot cut it short.
    """
    try:
        opened = blobs.open(key)
        handle = opened.__enter__()
    except FileNotFoundError:
        raise NotFoundException() from None
    try:
        size = handle.seek(0, os.SEEK_END)
        span = byte_range(range_header, size)
    except BaseException:
        opened.__exit__(None, None, None)
        raise
    start, end = span if span is not None else (0, size - 1)
    headers = {
        "content-type": media_type,
        "content-length": str(end - start + 1),
        "accept-ranges": "bytes",
    }
    if span is not None:
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    return Stream(
        _chunks(opened, handle, start, end - start + 1),
        status_code=206 if span is not None else 200,
        headers=headers,
    )


def _chunks(
    opened: contextlib.AbstractContextManager[BinaryIO], handle: BinaryIO, start: int, length: int
) -> Iterator[bytes]:
    try:
        handle.seek(start)
        while length > 0 and (chunk := handle.read(min(READ_CHUNK, length))):
            length -= len(chunk)
            yield chunk
    finally:
        opened.__exit__(None, None, None)
