"""The document as Swagger UI 4 reads it: OpenAPI 3.0.

The Swagger UI that `swagger-ui-bundle` ships (4.x) refuses OpenAPI 3.1 documents ("Unable
to render this definition"); Litestar writes 3.1. The page therefore embeds a 3.0 copy:
type lists become `nullable`, `{"type": "null"}` alternatives are dropped for the same,
schema `examples` lists become one `example`. `/api/schema/openapi.json` stays 3.1.
"""

from __future__ import annotations

import copy
from typing import Any

from api.openapi_shapes import Json

OPENAPI_30 = "3.0.3"
NULL = {"type": "null"}


def as_openapi_30(doc: Json) -> Json:
    converted = copy.deepcopy(doc)
    converted["openapi"] = OPENAPI_30
    converted.pop("jsonSchemaDialect", None)
    converted.pop("webhooks", None)
    converted.get("info", {}).pop("summary", None)
    converted.get("info", {}).get("license", {}).pop("identifier", None)
    for path_item in converted.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "security" in operation:
                # 3.0 allows scope lists for OAuth schemes only; bearer ones stay empty.
                operation["security"] = [{name: [] for name in r} for r in operation["security"]]
    _convert(converted)
    return converted


def _convert(node: Any) -> None:
    if isinstance(node, list):
        for child in node:
            _convert(child)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        if len(types) < len(kind):
            node["nullable"] = True
        if len(types) == 1:
            node["type"] = types[0]
        else:
            del node["type"]
            if types:
                node["anyOf"] = [{"type": t} for t in types]
    for combinator in ("oneOf", "anyOf"):
        options = node.get(combinator)
        if isinstance(options, list) and NULL in options:
            node[combinator] = [o for o in options if o != NULL]
            node["nullable"] = True
    if isinstance(node.get("examples"), list):  # a schema's (a media type's is a map)
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for child in node.values():
        _convert(child)
