"""Headers every answer carries, from a handler, an error or the HTTP parser."""

from __future__ import annotations

from aiohttp import web

STANDARD_HEADERS = {
    # No version: it would only tell a scanner which advisories to try.
    "Server": "parking-hub",
    # Browsers take each answer as its declared type, never as a guessed script or page.
    "X-Content-Type-Options": "nosniff",
}


async def add_standard_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every answer the app gives, before its headers go out."""
    response.headers.update(STANDARD_HEADERS)
