"""Uploads over HTTP, streamed into a BlobStore (blobs go back in `api.blob_responses`).

An upload is a raw body (fields in the query string) or a multipart form (fields and a
file part, `api.multipart`); JSON and urlencoded bodies carry fields only. Nothing is
held whole in memory: the body is read chunk by chunk (`api.upload_body`), multipart
forms are parsed incrementally (Litestar's own form parsing keeps every part), and the
blocking `BlobStore.put` runs in a worker thread that pulls the file's chunks from the
event loop one at a time.

A failed or interrupted upload leaves nothing behind: the store removes its temporary
file, a blob stored before a later step fails is deleted, and the caller deletes the blob
if its own save fails (`discard_on_error`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions import ClientException
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)
from multipart import parse_options_header

from api.decoding import label, not_json, record_input_errors
from api.errors import NUL
from api.multipart import MultipartForm
from api.upload_body import FORM_MAX, Begin, Body, Upload, receive_raw
from application.ports import BlobStore
from domain.errors import ValidationError

Req = Request[Any, Any, Any]

JSON = "application/json"
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


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
    body = Body(request.stream(), cap)
    try:
        if media == MULTIPART:
            form = MultipartForm(body, params.get("boundary", ""), blobs, begin, limit, file_field)
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
        return await receive_raw(body, fields, declared, blobs, begin, limit)
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
