"""JSON bodies decoded the way Djinn's clients send them: unknown fields ignored, and a
wrongly typed field reported together with every other problem of the request.

Decoding a body straight into its Struct stops at the first wrongly typed field, so the
rule failures of the other fields would stay hidden until the client fixed that one. Here
the body is checked field by field first: the fields that cannot be converted are taken
out and remembered as field errors (`application.input_errors`); the handler runs with
what is left, its own rule failures are reported together with them, and no write can
happen while they stand (the application refuses to save).
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Union

import msgspec
from litestar import Request, Response
from litestar.exceptions import ClientException, SerializationException

from application.input_errors import current_input_errors, set_input_errors

NOT_JSON = "Request body is not valid JSON"
# A `\uD800`-`\uDBFF` escape not followed by a `\uDC00`-`\uDFFF` one, or the reverse.
LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def not_json(body: bytes) -> str:
    """Why a body that failed to decode is not JSON, in words a client can act on.

    msgspec calls a lone UTF-16 surrogate escape "Input data was truncated"; say what it
    is instead.
    """
    lone = LONE_SURROGATE.search(body)
    if lone is not None:
        escape = lone.group().decode("ascii")
        return f"{NOT_JSON}: {escape} is half of a UTF-16 surrogate pair, alone"
    return NOT_JSON


# Fields whose name in Djinn's messages is not their JSON name.
LABELS = {"handle": "Username or email"}


def label(field: str) -> str:
    """Djinn's display name of a field: `payload_url` -> `Payload url`."""
    return LABELS.get(field) or field.replace("_", " ").capitalize()


def describe(annotation: Any) -> str:
    """A type as a person reads it: `str | None` -> `a string`."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(describe(a) for a in options)
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return f"an array of {describe(item).removeprefix('a ').removeprefix('an ')}s"
    names = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        dict: "an object",
    }
    return names.get(annotation, "a valid value")


def is_struct(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)


def type_errors(data: dict[str, Any], struct_type: type[msgspec.Struct]) -> dict[str, list[str]]:
    """Every known field of `data` whose value cannot become its declared type.

    Conversion is strict, as a JSON API's should be (Djinn's Go decoder refuses `1` for a
    boolean too); unknown fields are left alone (they are ignored).
    """
    errors: dict[str, list[str]] = {}
    for field in msgspec.structs.fields(struct_type):
        name = field.encode_name
        if name not in data:
            continue
        try:
            msgspec.convert(data[name], field.type)
        except msgspec.ValidationError:
            errors[name] = [f"{label(name)} must be {describe(field.type)}"]
    return errors


class MaridRequest(Request[Any, Any, Any]):
    """A request whose JSON body loses its wrongly typed fields to recorded field errors."""

    async def json(self) -> Any:
        try:
            data = await super().json()
        except SerializationException:
            raise ClientException(not_json(await self.body())) from None
        data_field = self.route_handler.parsed_data_field
        if not isinstance(data, dict) or data_field is None:
            return data
        if not is_struct(data_field.annotation):
            return data
        errors = type_errors(data, data_field.annotation)
        if not errors:
            return data
        record_input_errors(self, errors)
        return {k: v for k, v in data.items() if k not in errors}


def record_input_errors(request: Request[Any, Any, Any], errors: dict[str, list[str]]) -> None:
    """Remember fields of this request's body that could not be decoded: the use case
    runs without them, nothing is saved, and they are reported with its rule failures."""
    set_input_errors(errors)
    request.scope.setdefault("state", {})["input_errors"] = errors


def input_errors_of(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    """The field errors found while decoding this request's body (empty when none)."""
    found = request.scope.get("state", {}).get("input_errors")
    return dict(found) if found else {}


def merged(undecodable: dict[str, list[str]], failed: dict[str, list[str]]) -> dict[str, list[str]]:
    """The fields that could not be decoded, and the rule failures of every other field.

    A field taken out for its type is absent to the use case, which may then call it
    missing: its type error is the one that tells the truth.
    """
    return {**{k: v for k, v in failed.items() if k not in undecodable}, **undecodable}


async def refuse_undecodable(response: Response[Any]) -> Response[Any]:
    """A handler that finished without a rule failure still answers 400 for bad fields.

    Its writes were refused (see the module docstring); this covers handlers that wrote
    nothing, such as an update that changed no field.
    """
    errors = current_input_errors()
    if errors and (response.status_code or 200) < 400:
        return Response(errors, status_code=400, media_type="application/json")
    return response
