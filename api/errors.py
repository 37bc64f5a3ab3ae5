"""The error table: every exception becomes one HTTP answer here, and nowhere else."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    ValidationException,
)

from api.decoding import input_errors_of, label, merged, not_json, type_errors
from domain.errors import (
    ConflictError,
    NamespacePermissionError,
    NotFoundError,
    RuleError,
    ValidationError,
)
from projections.read_models import NotSettledError

log = logging.getLogger("marid.api")

Req = Request[Any, Any, Any]

NUL = "\x00"
TOO_DEEP = "Request body is nested too deeply"

# A write that was saved but that a read model has not caught up with: read it again later.
NOT_SETTLED = "The change was saved but cannot be read back yet; read it again shortly"
RETRY_AFTER_SECONDS = 5

# Litestar's words when the client goes away before the body ends (an InternalServerException).
LITESTAR_DISCONNECT = "client disconnected prematurely"
INTERRUPTED = "Upload interrupted: the client disconnected"


class ClientDisconnectedError(ClientException):
    """Raised when the client closes its connection before its request body ends."""

    def __init__(self) -> None:
        super().__init__(INTERRUPTED)


STANDARD_MESSAGES = {
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
}


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def validation_error(request: Req, exc: ValidationError) -> Response[Any]:
    """Every failed rule, with the fields that could not be decoded (see api.decoding)."""
    return _json(merged(input_errors_of(request), exc.fields), 400)


def rule_error(request: Req, exc: RuleError) -> Response[Any]:
    return _json(input_errors_of(request) or {"message": exc.message}, 400)


def not_found(_: Req, exc: NotFoundError) -> Response[Any]:
    return _json({"message": "Not Found"}, 404)


def namespace_permission(request: Req, exc: NamespacePermissionError) -> Response[Any]:
    """422, unless the body had bad fields: validation (400) comes first (CONTRACT.md)."""
    bad_fields = input_errors_of(request)
    if bad_fields:
        return _json(bad_fields, 400)
    return _json({"message": exc.message}, 422)


def conflict(_: Req, exc: ConflictError) -> Response[Any]:
    return _json({"message": exc.message}, 409)


def not_settled(_: Req, exc: NotSettledError) -> Response[Any]:
    """503, never a 404: the write stands, its read model lags (logged where it waited)."""
    return _json({"message": NOT_SETTLED}, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def http_error(request: Req, exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ClientDisconnectedError) or (
        isinstance(exc, InternalServerException) and exc.detail == LITESTAR_DISCONNECT
    ):
        return client_disconnected(request)
    status = exc.status_code
    if status >= 500:  # Litestar's own faults: their details are internals
        return internal_error(request, exc)
    message = STANDARD_MESSAGES.get(status, exc.detail)
    if status == 413:
        message = "Request body is too large"
    return _json({"message": message}, status, headers=exc.headers)


def decode_error(request: Req, exc: ValidationException) -> Response[Any]:
    """Undecodable bodies are a message; bad fields are reported all at once, by JSON name."""
    data_field = request.route_handler.parsed_data_field
    extra = exc.extra if isinstance(exc.extra, list) else []
    from_body = data_field is not None and any(
        isinstance(e, dict) and e.get("source") == "body" for e in extra
    )
    if data_field is not None and (from_body or not extra):
        body = cached_body(request)
        checked = check_body(body, data_field.annotation)
        if isinstance(checked, str):
            return _json({"message": checked}, 400)
        if checked:
            return _json(checked, 400)
    fields: dict[str, list[str]] = {}
    for item in extra:
        if isinstance(item, dict) and item.get("key"):
            fields.setdefault(str(item["key"]), []).append(str(item.get("message", "invalid")))
    return _json(fields or {"message": "Request body is invalid"}, 400)


def cached_body(request: Req) -> bytes:
    """The body Litestar already read while decoding (exception handlers are synchronous)."""
    body = request._connection_state.body
    return body if isinstance(body, bytes) else b""


class NoFields(msgspec.Struct):
    """The body of a route that reads none: nothing, or a JSON object (fields ignored)."""


def check_body(body: bytes, struct_type: Any) -> str | dict[str, list[str]]:
    """A message when the body is not a JSON object, else every wrongly typed field."""
    if not body.strip():
        return "Request body is empty, expected a JSON object"
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return not_json(body)
    except RecursionError:
        return TOO_DEEP
    if not isinstance(data, dict):
        return "Request body must be a JSON object"
    if not (isinstance(struct_type, type) and issubclass(struct_type, msgspec.Struct)):
        return {}
    return type_errors(data, struct_type)


def nul_errors(data: Any) -> dict[str, list[str]]:
    """Every field of a decoded JSON object holding a NUL character (PostgreSQL text cannot)."""
    if not isinstance(data, dict):
        return {}
    return {
        key: [f"{label(key)} cannot contain NUL characters"]
        for key, value in data.items()
        if NUL in key or holds_nul(value)
    }


def holds_nul(value: Any) -> bool:
    """Whether a decoded JSON value holds a NUL anywhere (iterative: nesting may be deep)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and NUL in item:
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def client_disconnected(request: Req) -> Response[Any]:
    """Not a fault: one line, and an answer the server drops (nobody is left to read it).
    Nothing was stored: uploads remove what they began (`api.uploads`)."""
    request_id = request.scope.get("state", {}).get("request_id")
    log.info(
        "client disconnected before the end of its request body: %s %s (request %s)",
        request.method,
        request.url.path,
        request_id,
    )
    return _json({"message": INTERRUPTED}, 400)


def internal_error(request: Req, exc: Exception) -> Response[Any]:
    request_id = request.scope.get("state", {}).get("request_id")
    log.exception(
        "unhandled error in %s %s (request %s)", request.method, request.url.path, request_id
    )
    return _json({"message": "Internal Server Error", "request_id": request_id}, 500)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ValidationError: validation_error,
    RuleError: rule_error,
    NotFoundError: not_found,
    NamespacePermissionError: namespace_permission,
    ConflictError: conflict,
    NotSettledError: not_settled,
    ValidationException: decode_error,
    HTTPException: http_error,
    Exception: internal_error,
}
