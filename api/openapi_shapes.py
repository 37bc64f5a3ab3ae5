"""The parts of the OpenAPI document that Litestar cannot know: marid's error bodies (see
`api.errors`), its headers, its security schemes and its binary bodies, as plain JSON."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

MESSAGE_SCHEMA = "Message"
FIELD_ERRORS_SCHEMA = "FieldErrors"
BEARER = "bearer"
METRICS_TOKEN = "metricsToken"  # noqa: S105 - a security scheme's name, not a secret

STRING: Json = {"type": "string"}
BINARY: Json = {"type": "string", "format": "binary"}


def ref(name: str, kind: str = "schemas") -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def header(description: str, schema: Json | None = None, *, required: bool = True) -> Json:
    return {"description": description, "required": required, "schema": schema or STRING}


SCHEMAS: dict[str, Json] = {
    MESSAGE_SCHEMA: {
        "type": "object",
        "description": "An error that is not about one field of the request.",
        "properties": {
            "message": STRING,
            "request_id": {
                "type": ["string", "null"],
                "description": "Set on 500 answers: quote it when reporting the fault.",
            },
        },
        "required": ["message"],
    },
    FIELD_ERRORS_SCHEMA: {
        "type": "object",
        "description": "Every invalid field (by its JSON name) with every rule it failed.",
        "additionalProperties": {"type": "array", "items": STRING},
        "minProperties": 1,
    },
}

RETRY_AFTER = header("Seconds to wait before trying again.", {"type": "integer"})
WWW_AUTHENTICATE = header('`Bearer`, or `Bearer error="insufficient_scope", scope="..."`.')
CONTENT_RANGE = header("`bytes first-last/size`, or `bytes */size` on 416.")
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": header("Requests allowed per window.", {"type": "integer"}),
    "RateLimit-Remaining": header("Requests left in this window.", {"type": "integer"}),
    "RateLimit-Reset": header("Seconds until the window ends.", {"type": "integer"}),
    "RateLimit-Policy": header("`<limit>;w=<seconds>`."),
}
PAGING_HEADERS = {
    "Link": header('`<url>; rel="prev"`, `rel="next"`, `rel="first"` and `rel="last"`.'),
    "X-Total-Count": header("How many items the whole list has.", {"type": "integer"}),
}


def _message(description: str, headers: Json | None = None) -> Json:
    response: Json = {
        "description": description,
        "content": {"application/json": {"schema": ref(MESSAGE_SCHEMA)}},
    }
    if headers:
        response["headers"] = headers
    return response


# status -> (name in components/responses, the response)
ERRORS: dict[int, tuple[str, Json]] = {
    400: (
        "BadRequest",
        {
            "description": 'Invalid fields (`{"<field>": ["<message>", ...]}`), or a body '
            'that cannot be decoded at all or a refused request (`{"message": "..."}`).',
            "content": {
                "application/json": {
                    "schema": {"anyOf": [ref(FIELD_ERRORS_SCHEMA), ref(MESSAGE_SCHEMA)]}
                }
            },
        },
    ),
    401: (
        "Unauthorized",
        _message(
            "No token where one is needed, or a bad, expired or revoked one.",
            {"WWW-Authenticate": WWW_AUTHENTICATE},
        ),
    ),
    403: (
        "Forbidden",
        _message(
            "The token lacks the scope the route needs (named in the message).",
            {"WWW-Authenticate": WWW_AUTHENTICATE},
        ),
    ),
    404: ("NotFound", _message("No such resource, or the caller may not see it.")),
    409: ("Conflict", _message("Concurrent writes kept colliding: send the request again.")),
    413: ("PayloadTooLarge", _message("The body exceeds the server's size limit.")),
    416: (
        "RangeNotSatisfiable",
        _message("The range starts past the end.", {"Content-Range": CONTENT_RANGE}),
    ),
    422: ("Unprocessable", _message("The caller may not work in that namespace.")),
    429: (
        "TooManyRequests",
        _message("Rate limit exceeded.", {"Retry-After": RETRY_AFTER, **RATE_LIMIT_HEADERS}),
    ),
    500: ("InternalError", _message("A fault on the server's side (never bad input).")),
    503: (
        "NotSettled",
        _message(
            "The write was saved but cannot be read back yet: read it again shortly.",
            {"Retry-After": RETRY_AFTER},
        ),
    ),
}

SECURITY_SCHEMES: dict[str, Json] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal or OAuth token: `Authorization: Bearer <token>`. Its scopes "
        "(`resource:perm[,perm]`; resources build, cron, image, invite, key, namespace, "
        "object, variable, webhook; perms read, write, delete) are listed on each operation. "
        "Reads in public namespaces need no token.",
    },
    METRICS_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "description": "`MARID_METRICS_TOKEN`, when the server sets one.",
    },
}


def binary_of(*media_types: str) -> Json:
    """A content map of binary bodies."""
    return {media: {"schema": BINARY} for media in media_types}


def partial_content(*media_types: str) -> Json:
    return {
        "description": "The byte range asked for with `Range`.",
        "headers": {"Content-Range": CONTENT_RANGE},
        "content": binary_of(*media_types),
    }
