"""Headers every answer carries, from a handler, an error or the HTTP parser."""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

STANDARD_HEADERS = {
    # No version: it would only tell a scanner which advisories to try.
    "Server": "parking-hub",
    # Browsers take each answer as its declared type, never as a guessed script or page.
    "X-Content-Type-Options": "nosniff",
}


_STANDARD = CIMultiDict(STANDARD_HEADERS)


async def add_standard_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every answer the app gives, before its headers go out. aiohttp
    has set its own Server header by then, so these replace rather than add."""
    response.headers.update(_STANDARD)  # from a CIMultiDict: half the cost of a dict's update
