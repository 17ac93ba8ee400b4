"""GET /metrics: the process's Prometheus registry in the text exposition format."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

metrics_key = web.AppKey("metrics", CollectorRegistry)


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(request.app[metrics_key]))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
