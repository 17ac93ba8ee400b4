"""Cross-origin access for browser apps, by an allow-list of origins ("*": any origin).

The API is read-only and takes no credentials, so allowing every origin exposes nothing that a
server-side client could not read anyway; an operator who wants to limit browser use names origins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

ALLOWED_METHODS = "GET, HEAD, OPTIONS"
# Headers a browser app may send beyond the safelisted ones: conditional GETs, stream resumption
# and API keys.
ALLOWED_HEADERS = ("cache-control", "if-none-match", "last-event-id", "authorization", "x-api-key")
EXPOSED_HEADERS = "ETag, Retry-After, Link, NGSILD-Results-Count"
PREFLIGHT_MAX_AGE_S = 86_400


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    origins: tuple[str, ...] = ("*",)

    @classmethod
    def of(cls, origins: Sequence[str]) -> CorsPolicy:
        return cls(tuple(origins))

    @property
    def on(self) -> bool:
        """False for `--cors-origins none`: no answer carries CORS headers, and a preflight is
        refused like any other OPTIONS request (405)."""
        return bool(self.origins)

    def allow_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request from `origin`, or None to refuse."""
        if origin is None:
            return None
        if "*" in self.origins:
            return "*"
        return origin if origin in self.origins else None


cors_key = web.AppKey("cors", CorsPolicy)


def preflight_answer(request: web.Request) -> web.Response | None:
    """The answer to a CORS preflight request, None for any other request (which gets its headers
    in `add_cors_headers`)."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    if request.app[cors_key].allow_origin(request.headers.get("Origin")) is None:
        return web.Response(status=204)  # no CORS headers: the browser refuses the request
    asked = request.headers.get("Access-Control-Request-Headers", "")
    headers = [h.strip() for h in asked.split(",") if h.strip().lower() in ALLOWED_HEADERS]
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ", ".join(headers),
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        },
    )


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every answer, streams and errors included, before headers go out."""
    policy = request.app[cors_key]
    allowed = policy.allow_origin(request.headers.get("Origin"))
    if "*" not in policy.origins:
        response.headers.add("Vary", "Origin")  # beside any Vary the answer set itself
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
