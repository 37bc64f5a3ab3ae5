"""Web pages: sign-in, personal tokens, OAuth apps and the authorization flow.

`WEB_HANDLERS` are mounted beside the API (no `/api` prefix); their templates live in
`templates/` beside this module. The pages share one router: the visit, user and form
dependencies, HTML error pages and the security headers. The token and revocation
endpoints answer programs, not people: their errors are RFC 6749 JSON.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from litestar import Response, Router, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from api.web.apps import AppController, ConnectionController
from api.web.authorize import AuthorizeController
from api.web.errors import PAGE_EXCEPTION_HANDLERS
from api.web.oauth_token import OAuthTokenController
from api.web.pages import WEB_DEPENDENCIES
from api.web.session import SessionController
from api.web.tokens import TokenController

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = Path(__file__).parent / "static" / "marid.css"


@functools.cache
def stylesheet_bytes() -> bytes:
    return STYLESHEET.read_bytes()


@get("/static/marid.css", sync_to_thread=False, include_in_schema=False)
def stylesheet() -> Response[bytes]:
    """The pages' one stylesheet (a file: the CSP allows no inline style or script)."""
    return Response(
        stylesheet_bytes(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


PAGES = Router(
    "/",
    route_handlers=[
        SessionController,
        TokenController,
        AppController,
        ConnectionController,
        AuthorizeController,
        OAuthTokenController,
        stylesheet,
    ],
    dependencies=WEB_DEPENDENCIES,
    exception_handlers=PAGE_EXCEPTION_HANDLERS,
    include_in_schema=False,
    tags=["web"],
)

WEB_HANDLERS: list[Any] = [PAGES]


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine)
