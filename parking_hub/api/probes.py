"""GET /healthz and /readyz."""

from __future__ import annotations

from aiohttp import web

from parking_hub.api.app_state import health_key
from parking_hub.api.rendering import json_response


async def healthz(request: web.Request) -> web.Response:
    return json_response(request, {"status": "alive"}, cache="no-store")


async def readyz(request: web.Request) -> web.Response:
    problems = request.app[health_key].problems()
    if problems:
        return json_response(
            request, {"status": "not_ready", "reasons": problems}, status=503, cache="no-store"
        )
    return json_response(request, {"status": "ready"}, cache="no-store")
