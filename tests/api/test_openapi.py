"""The OpenAPI document and its pages: what they declare, and that they work offline.

That every answer conforms to the document is `test_openapi_conformance.py`'s.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from swagger_ui_bundle import swagger_ui_path

from tests.conftest import Client

SCHEMA = "/api/schema"
BUNDLE = Path(swagger_ui_path)
BUILD_FILTERS = {"page", "per_page", "search", "tag", "status", "pinned"}
LISTS = {
    "/api/namespaces": {"page", "per_page", "search"},
    "/api/variables": {"page", "per_page", "search"},
    "/api/keys": {"page", "per_page", "search"},
    "/api/images": {"page", "per_page", "search"},
    "/api/objects": {"page", "per_page", "search"},
    "/api/cron": {"page", "per_page", "search"},
    "/api/n/{user}/{path}/-/variables": {"page", "per_page", "search"},
    "/api/b/{user}/{number}/artifacts": {"page", "per_page", "search"},
    "/api/builds": BUILD_FILTERS,
    "/api/n/{user}/{path}/-/builds": BUILD_FILTERS,
    "/api/cron/{cron_id}/builds": BUILD_FILTERS,
    "/api/audit": {"page", "per_page", "resource", "actor", "since", "until", "event"},
}
LITESTAR_ERROR = {"status_code", "detail", "extra"}


@pytest.fixture
def document(client: Client) -> dict[str, Any]:
    response = client.get(f"{SCHEMA}/openapi.json")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, item)
        for path, methods in doc["paths"].items()
        for method, item in methods.items()
        if path.startswith(("/api", "/version", "/healthz", "/readyz", "/metrics"))
    ]


def schemas_in(node: Any) -> list[dict[str, Any]]:
    """Every object in the document (schemas among them)."""
    found: list[dict[str, Any]] = []
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found.append(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def resolve(doc: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        _, kind, name = item["$ref"].removeprefix("#/").split("/")
        item = doc["components"][kind][name]
    return item


def test_the_document_has_no_litestar_error_body(document: dict[str, Any]) -> None:
    shapes = [s for s in schemas_in(document) if set(s.get("properties", {})) >= LITESTAR_ERROR]

    assert shapes == []


def test_errors_are_marids_bodies(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]

    bad_request = responses["BadRequest"]["content"]["application/json"]["schema"]
    assert bad_request == {
        "anyOf": [
            {"$ref": "#/components/schemas/FieldErrors"},
            {"$ref": "#/components/schemas/Message"},
        ]
    }
    for name in ("Unauthorized", "Forbidden", "NotFound", "Unprocessable", "TooManyRequests"):
        schema = responses[name]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Message"}, name
    assert responses["Unauthorized"]["headers"]["WWW-Authenticate"]["required"] is True
    assert responses["TooManyRequests"]["headers"]["Retry-After"]["required"] is True


def test_every_error_status_of_the_contract_is_declared_where_it_happens(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]

    submit = paths["/api/builds"]["post"]["responses"]
    anonymous_read = paths["/api/n/{user}/{path}"]["get"]["responses"]
    assert {"400", "401", "403", "404", "413", "422", "429", "503"} <= set(submit)
    assert {"401", "403", "404", "429"} <= set(anonymous_read)
    assert "422" not in anonymous_read
    assert "413" not in anonymous_read
    assert set(paths["/healthz"]["get"]["responses"]) == {"200", "429", "500"}
    assert "401" not in paths["/api/n/{user}/{path}/-/badge.svg"]["get"]["responses"]


def test_the_bearer_scheme_and_each_routes_scopes_are_declared(document: dict[str, Any]) -> None:
    paths = document["paths"]

    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    # Token required: one requirement; anonymous reads allowed: also the empty one.
    assert paths["/api/builds"]["get"]["security"] == [{"bearer": ["build:read"]}]
    assert paths["/api/images/{image_id}"]["delete"]["security"] == [{"bearer": ["image:delete"]}]
    assert paths["/api/b/{user}/{number}"]["get"]["security"] == [
        {"bearer": ["build:read"]},
        {},
    ]
    assert paths["/api/cron/{cron_id}/builds"]["get"]["security"][0] == {
        "bearer": ["cron:read", "build:read"]
    }
    assert paths["/api/user"]["get"]["security"] == [{"bearer": []}]
    assert paths["/version"]["get"]["security"] == []
    unsecured = [(m, p) for m, p, item in operations(document) if "security" not in item]
    assert unsecured == []


def test_list_routes_declare_their_paging_parameters_and_headers(
    document: dict[str, Any],
) -> None:
    for path, expected in LISTS.items():
        item = document["paths"][path]["get"]
        names = {p["name"] for p in item["parameters"] if p["in"] == "query"}
        headers = item["responses"]["200"]["headers"]

        assert expected <= names, path
        assert headers["Link"]["required"], path
        assert headers["X-Total-Count"]["required"], path
    whole_lists = document["paths"]["/api/b/{user}/{number}/jobs"]["get"]
    assert "Link" not in whole_lists["responses"]["200"].get("headers", {})


def test_image_creation_declares_its_three_bodies(document: dict[str, Any]) -> None:
    body = document["paths"]["/api/images"]["post"]["requestBody"]

    assert set(body["content"]) == {
        "application/json",
        "application/x-qemu-disk",
        "application/octet-stream",
        "multipart/form-data",
    }
    assert "download_url" in body["content"]["application/json"]["schema"]["properties"]
    assert body["content"]["multipart/form-data"]["schema"]["required"] == ["file"]


def test_downloads_and_output_are_declared_binary_or_text(document: dict[str, Any]) -> None:
    paths = document["paths"]

    obj = paths["/api/objects/{object_id}"]["get"]["responses"]["200"]["content"]
    image = paths["/api/images/{image_id}"]["get"]["responses"]["200"]["content"]
    output = paths["/api/b/{user}/{number}/jobs/{name}/output"]["get"]["responses"]
    assert obj["application/json"]["schema"] == {"$ref": "#/components/schemas/ObjectOut"}
    assert obj["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}
    assert image["application/x-qemu-disk"]["schema"]["format"] == "binary"
    assert set(output["200"]["content"]) == {"text/plain", "text/event-stream"}
    assert "206" in output
    assert "416" in output
    impossible = [s for s in schemas_in(document) if {} in s.get("oneOf", [])]
    assert impossible == []


def test_yaml_is_the_same_document(client: Client, document: dict[str, Any]) -> None:
    for name in ("openapi.yaml", "openapi.yml"):
        response = client.get(f"{SCHEMA}/{name}")

        assert response.status_code == 200
        assert yaml.safe_load(response.text) == document


def test_swagger_page_loads_only_marids_own_assets(client: Client) -> None:
    for path in (SCHEMA, f"{SCHEMA}/swagger"):
        page = client.get(path)
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)

        assert page.status_code == 200
        assert urls
        assert all(u.startswith(f"{SCHEMA}/static/") for u in urls), urls
        assert "cdn" not in page.text.lower()
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.content == (BUNDLE / url.rsplit("/", 1)[1]).read_bytes(), url
    assert (
        client.get(f"{SCHEMA}/static/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_swagger_page_embeds_the_document_as_openapi_30(client: Client) -> None:
    """Swagger UI 4 (the bundled one) renders only 3.0 documents."""
    page = client.get(f"{SCHEMA}/swagger").text
    spec = json.loads(re.search(r"spec: (\{.*\}),\s*dom_id", page, re.S).group(1))  # type: ignore[union-attr]

    assert spec["openapi"] == "3.0.3"
    assert [s for s in schemas_in(spec) if isinstance(s.get("type"), list)] == []
    assert [s for s in schemas_in(spec) if {"type": "null"} in s.get("oneOf", [])] == []
    assert spec["paths"]["/api/builds"]["get"]["security"] == [{"bearer": []}]
    assert "bearer" in spec["components"]["securitySchemes"]


def test_redoc_is_not_served(client: Client) -> None:
    """No installed package ships Redoc's assets: no page that would be blank offline."""
    assert client.get(f"{SCHEMA}/redoc").status_code == 404
