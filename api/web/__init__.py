"""Web pages: sign-in, personal tokens, OAuth apps and the authorization flow.

`WEB_HANDLERS` are mounted beside the API (no `/api` prefix); their templates live in
`templates/` beside this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

TEMPLATES = Path(__file__).parent / "templates"

WEB_HANDLERS: list[Any] = []


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine)
