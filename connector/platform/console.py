"""The web console at ``/``: one HTML page and one script, no build step.

The page is a static shell (it holds no data, so it is served without a token); the script
asks for a bearer token once per browser tab (kept in ``sessionStorage``) and does everything
through the same JSON API a platform uses: pick or create a connection, browse its resources,
fill an operation's form rendered from its JSON Schema, run it, see the records as a table and
as raw JSON, page through a list's NDJSON stream, and manage subscriptions with their delivery
log and replay buttons.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

__all__ = ["PUBLIC_PATHS", "console_routes"]

PUBLIC_PATHS = frozenset({"/healthz", "/", "/console.js"})
_STATIC = resources.files("connector.platform") / "static"
_SECURITY = {
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


async def page(request: Request) -> Response:
    html = (_STATIC / "console.html").read_text(encoding="utf-8")
    return Response(html, media_type="text/html; charset=utf-8", headers=_SECURITY)


async def script(request: Request) -> Response:
    js = (_STATIC / "console.js").read_text(encoding="utf-8")
    return Response(js, media_type="text/javascript; charset=utf-8", headers=_SECURITY)


def console_routes() -> list[BaseRoute]:
    """The routes of this module."""
    return [Route("/", page, methods=["GET"]), Route("/console.js", script, methods=["GET"])]
