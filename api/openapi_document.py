"""The OpenAPI document as marid answers: Litestar's generated document, corrected.

Litestar describes each handler from its signature. What it cannot see is added here, in
one place, rather than on every route: the error bodies of `api.errors` (instead of
Litestar's `{status_code, detail, extra}`), the statuses each route can answer
(`api.openapi_routes`), the bearer scheme and scopes, paging parameters and headers, and
the bodies that handlers read or write themselves (uploads, downloads, build output).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from litestar import Litestar

from api.openapi_routes import Operation, operations
from api.openapi_shapes import (
    BINARY,
    ERRORS,
    PAGING_HEADERS,
    SCHEMAS,
    SECURITY_SCHEMES,
    STRING,
    Json,
    binary_of,
    header,
    partial_content,
    ref,
)

QEMU_DISK = "application/x-qemu-disk"
OCTET = "application/octet-stream"
ANY = "*/*"


def honest_document(generated: Json, app: Litestar) -> Json:
    """A corrected copy of Litestar's document (`generated` is left as it was)."""
    doc = copy.deepcopy(generated)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(copy.deepcopy(SCHEMAS))
    components["responses"] = {name: copy.deepcopy(body) for name, body in ERRORS.values()}
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    for operation in operations(app):
        item = doc["paths"].get(operation.path, {}).get(operation.method.lower())
        if item is not None:
            _correct(item, operation)
    return doc


def _correct(item: Json, operation: Operation) -> None:
    responses = {s: r for s, r in item.get("responses", {}).items() if int(s) < 400}
    for status in sorted(operation.errors):
        responses[str(status)] = ref(ERRORS[status][0], "responses")
    item["responses"] = responses
    if operation.paged:
        responses["200"].setdefault("headers", {}).update(copy.deepcopy(PAGING_HEADERS))
    parameters = item.setdefault("parameters", [])
    known = {(p["name"], p["in"]) for p in parameters}
    parameters += [copy.deepcopy(p) for p in operation.query if (p["name"], "query") not in known]
    if not parameters:
        del item["parameters"]
    item["security"] = operation.security
    if operation.scopes:
        scopes = ", ".join(f"`{s}`" for s in operation.scopes)
        item["description"] = (item.get("description", "") + f"\n\nScopes: {scopes}.").strip()
    special = SPECIAL.get(operation.key)
    if special is not None:
        special(item)


def _header_param(name: str, description: str) -> Json:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": STRING,
        "description": description,
    }


RANGE = _header_param("Range", "One byte range, `bytes=first-last`, `bytes=first-` or `bytes=-n`.")


def _download(item: Json, shape: str, *media_types: str) -> None:
    """A resource's JSON, or its file when `Accept` asks for one of `media_types`."""
    item["responses"]["200"]["content"] = {
        "application/json": {"schema": ref(shape)},
        **binary_of(*media_types),
    }
    item["responses"]["206"] = partial_content(*media_types)
    item["responses"]["416"] = ref(ERRORS[416][0], "responses")
    item.setdefault("parameters", []).append(copy.deepcopy(RANGE))


def _object(item: Json) -> None:
    _download(item, "ObjectOut", OCTET, ANY)
    item["description"] = (
        "`Accept: application/octet-stream` or the object's own type answers its content. "
        + item.get("description", "")
    ).strip()


def _image(item: Json) -> None:
    _download(item, "ImageOut", QEMU_DISK, OCTET)


def _artifact(item: Json) -> None:
    _download(item, "ArtifactOut", ANY)
    item["responses"]["304"] = {
        "description": "Not modified since `If-Modified-Since`.",
        "headers": {"Last-Modified": header("When the artifact was collected.")},
    }
    item["parameters"].append(_header_param("If-Modified-Since", "An HTTP date."))


def _job_output(item: Json) -> None:
    item["responses"]["200"]["content"] = {
        "text/plain": {"schema": STRING},
        "text/event-stream": {"schema": STRING},
    }
    item["responses"]["206"] = {
        "description": "The byte range asked for with `Range`.",
        "headers": {"Content-Range": header("`bytes first-last/size`.")},
        "content": {"text/plain": {"schema": STRING}},
    }
    item["responses"]["416"] = ref(ERRORS[416][0], "responses")
    item.setdefault("parameters", []).extend(
        [
            copy.deepcopy(RANGE),
            _header_param("Last-Event-ID", "With `text/event-stream`: resume after this chunk."),
        ]
    )


def _content(media_type: str) -> Callable[[Json], None]:
    def correct(item: Json) -> None:
        item["responses"]["200"]["content"] = {media_type: {"schema": STRING}}

    return correct


def _readiness(item: Json) -> None:
    reasons = {"type": "array", "items": STRING}
    status = {"type": "string", "enum": ["ready", "unready"]}
    schema = {
        "type": "object",
        "properties": {"status": status, "reasons": reasons},
        "required": ["status"],
    }
    item["responses"]["200"]["content"] = {"application/json": {"schema": schema}}
    item["responses"]["503"] = {
        "description": "Not ready: why, in `reasons`.",
        "content": {"application/json": {"schema": schema}},
    }


def _image_create(item: Json) -> None:
    text = {"type": "string"}
    fields = {"name": text, "namespace": text}
    item["requestBody"] = {
        "required": True,
        "description": "JSON to download the image from a URL; or the QCOW2 file as a raw "
        "body (`name`, `namespace` in the query string) or as the `file` part of a form.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {**fields, "download_url": text},
                }
            },
            QEMU_DISK: {"schema": BINARY},
            OCTET: {"schema": BINARY},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {**fields, "file": BINARY},
                    "required": ["file"],
                }
            },
        },
    }
    item.setdefault("parameters", []).extend(
        {
            "name": f,
            "in": "query",
            "required": False,
            "schema": text,
            "description": "With a raw body.",
        }
        for f in fields
    )


def _idempotent(item: Json) -> None:
    item.setdefault("parameters", []).append(
        _header_param(
            "Idempotency-Key",
            "1-255 visible ASCII characters: a repeat within 24 hours answers the first build.",
        )
    )


SPECIAL: dict[tuple[str, str], Callable[[Json], None]] = {
    ("GET", "/api/objects/{object_id}"): _object,
    ("GET", "/api/images/{image_id}"): _image,
    ("GET", "/api/b/{user}/{number}/artifacts/{name}"): _artifact,
    ("GET", "/api/b/{user}/{number}/jobs/{name}/output"): _job_output,
    ("GET", "/api/n/{user}/{path}/-/badge.svg"): _content("image/svg+xml"),
    ("GET", "/metrics"): _content("text/plain"),
    ("GET", "/readyz"): _readiness,
    ("POST", "/api/images"): _image_create,
    ("POST", "/api/builds"): _idempotent,
}
