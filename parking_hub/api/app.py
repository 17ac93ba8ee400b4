"""The aiohttp application factory."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from parking_hub.api.errors import error_middleware
from parking_hub.api.keys import health_key, live_key
from parking_hub.api.metrics import metrics_handler
from parking_hub.api.routes import setup_routes
from parking_hub.observe import Health
from parking_hub.query.live import LiveCity

MAX_REQUEST_BYTES = 64 * 1024


def create_app(
    live: LiveCity, health: Health, metrics: CollectorRegistry, *, serve_api: bool = True
) -> web.Application:
    """Every role answers the probes; only roles that keep the availability mirror answer /v1."""
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_REQUEST_BYTES)
    app[live_key] = live
    app[health_key] = health
    setup_routes(app, serve_api=serve_api)
    app.router.add_get("/metrics", metrics_handler(metrics))
    return app
