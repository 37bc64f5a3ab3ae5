"""The OpenAPI document served at `/api/schema`."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from api.controllers.root import marid_version


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="marid",
        version=marid_version(),
        description="A continuous-integration server with a Djinn CI compatible API.",
        path="/api/schema",
        render_plugins=[SwaggerRenderPlugin()],
    )
