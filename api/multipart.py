"""Multipart forms parsed as they arrive: fields kept, the file part streamed straight
into the blob store (Litestar's own form parsing keeps every part in memory)."""

from __future__ import annotations

from collections import deque

import anyio
import anyio.to_thread
from litestar.exceptions import ClientException, HTTPException

# The parser Litestar itself uses; its push interface lets us parse a stream incrementally.
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from api.decoding import label
from api.errors import NUL
from api.upload_body import (
    FORM_MAX,
    HEAD_SIZE,
    Begin,
    Body,
    Upload,
    UploadStart,
    read_head,
    store_file,
)
from application.ports import BlobStore
from domain.errors import ValidationError

FIELD_MAX = 16 * 1024  # one text field of a multipart form
MAX_PARTS = 64


class _End:
    """The end of a multipart form."""


END = _End()


class MultipartForm:
    """A multipart form parsed as it arrives; the file part goes straight to the store."""

    def __init__(
        self,
        body: Body,
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
        head = await read_head(self._read_part)
        if not head:
            return Upload(fields, declared, b"", None, None)
        start = UploadStart(dict(fields), False, declared, head[:HEAD_SIZE])
        key = await anyio.to_thread.run_sync(self.begin, start)
        blob = await store_file(self.blobs, key, head, self._read_part, self.limit)
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
