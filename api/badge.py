"""`/api/n/{user}/{path}/-/badge.svg`: the status of a public namespace's latest build.

No authentication at all (the route asks for no caller, so `authenticate` passes it by):
a badge is embedded in READMEs. Anything but a public namespace with builds is `unknown`,
so that the badge never reveals whether a private namespace exists.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from litestar import Controller, Response, get
from litestar.params import FromPath

from api.access import decode_path
from api.deps import Injected
from projections.builds import BuildQueries
from projections.namespace_queries import NamespaceQueries

SVG = "image/svg+xml"
LABEL = "build"
UNKNOWN = ("unknown", "#9f9f9f")
# status -> (text, colour)
BADGES = {
    "queued": ("queued", "#9f9f9f"),
    "running": ("running", "#007ec6"),
    "passed": ("passed", "#44cc11"),
    "passed_with_failures": ("passed", "#a4a61d"),
    "failed": ("failed", "#e05d44"),
    "killed": ("killed", "#fe7d37"),
    "timed_out": ("timed out", "#e05d44"),
}
CHAR_WIDTH = 7  # px per character of 11px Verdana, near enough for short words
PADDING = 10


def badge_svg(text: str, colour: str) -> str:
    """A flat two-part badge: `build` on grey, then the status on its colour."""
    left = len(LABEL) * CHAR_WIDTH + PADDING
    right = len(text) * CHAR_WIDTH + PADDING
    width = left + right
    label, value = escape(LABEL), escape(text)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" '
        f'role="img" aria-label="{label}: {value}">'
        f"<title>{label}: {value}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label}</text>'
        f'<text x="{left + right / 2}" y="14">{value}</text>'
        "</g></svg>"
    )


def latest_status(
    namespaces: NamespaceQueries, builds: BuildQueries, username: str, path: str
) -> str | None:
    """The latest build's status in a public namespace; None for anything else."""
    ns = namespaces.get(username, decode_path(path))
    if ns is None or ns.visibility != "public":
        return None
    build = builds.latest_in_namespace(ns.id)
    return None if build is None else build.status


class BadgeController(Controller):
    tags = ["namespaces"]

    @get(
        "/api/n/{user:str}/{path:str}/-/badge.svg",
        sync_to_thread=True,
        summary="A badge of the latest build's status (public namespaces only)",
        media_type=SVG,
    )
    def badge(
        self,
        user: FromPath[str],
        path: FromPath[str],
        namespaces: Injected[NamespaceQueries],
        builds: Injected[BuildQueries],
    ) -> Response[Any]:
        status = latest_status(namespaces, builds, user, path)
        text, colour = BADGES.get(status or "", UNKNOWN)
        return Response(
            badge_svg(text, colour), media_type=SVG, headers={"Cache-Control": "no-cache"}
        )
