"""The OpenAPI document served at `/api/schema`: `openapi.json`, `openapi.yaml` (and
`.yml`), and Swagger UI at `/api/schema` and `/api/schema/swagger`, its assets served by
marid from the `swagger-ui-bundle` package (`/api/schema/static/`), so the page works
offline.

Every rendering serves the corrected document of `api.openapi_document`. Redoc is not
served: no installed package ships its assets, and a page that loads them from a CDN is
blank offline; `/api/schema/redoc` answers 404.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from api.controllers.root import marid_version
from api.openapi_document import honest_document
from api.openapi_shapes import Json
from api.openapi_swagger import as_openapi_30

SCHEMA_PATH = "/api/schema"
STATIC = "/static"
ASSETS = Path(swagger_ui_path)

Req = Request[Any, Any, Any]


class HonestDocument:
    """The corrected document, made once per generated one (one per app)."""

    def __init__(self) -> None:
        self._generated: Json | None = None
        self._corrected: Json = {}

    def __call__(self, request: Req, generated: Json) -> Json:
        if generated is not self._generated:
            self._corrected = honest_document(generated, request.app)
            self._generated = generated
        return self._corrected


class HonestJson(JsonRenderPlugin):
    def __init__(self, honest: HonestDocument) -> None:
        super().__init__()
        self.honest = honest

    def render(self, request: Req, openapi_schema: Json) -> bytes:
        return super().render(request, self.honest(request, openapi_schema))


class HonestYaml(YamlRenderPlugin):
    def __init__(self, honest: HonestDocument) -> None:
        super().__init__()
        self.honest = honest

    def render(self, request: Req, openapi_schema: Json) -> bytes:
        return super().render(request, self.honest(request, openapi_schema))


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI from marid's own copy of its assets, showing the document as 3.0."""

    def __init__(self, honest: HonestDocument) -> None:
        static = SCHEMA_PATH + STATIC
        super().__init__(
            js_url=f"{static}/swagger-ui-bundle.js",
            css_url=f"{static}/swagger-ui.css",
            standalone_preset_js_url=f"{static}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{static}/favicon-32x32.png'>",
            path=["/swagger"],
        )
        self.honest = honest
        self._made_from: Json | None = None
        self._as_30: Json = {}

    def render(self, request: Req, openapi_schema: Json) -> bytes:
        corrected = self.honest(request, openapi_schema)
        if corrected is not self._made_from:
            self._as_30 = as_openapi_30(corrected)
            self._made_from = corrected
        return super().render(request, self._as_30)

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        router.register(create_static_files_router(STATIC, [ASSETS], name="swagger-assets"))


def openapi_config() -> OpenAPIConfig:
    honest = HonestDocument()
    return OpenAPIConfig(
        title="marid",
        version=marid_version(),
        description="A continuous-integration server with a Djinn CI compatible API.",
        path=SCHEMA_PATH,
        render_plugins=[OfflineSwagger(honest), HonestJson(honest), HonestYaml(honest)],
    )
