"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry

from parking_hub.api.access import Access, access_key, keep_keyed_answers_private
from parking_hub.api.app_state import health_key, live_key
from parking_hub.api.cors import CorsPolicy, add_cors_headers, cors_key
from parking_hub.api.dashboard import Dashboard, dashboard_key
from parking_hub.api.guard import Guard
from parking_hub.api.headers import add_standard_headers
from parking_hub.api.http_metrics import HttpMetrics
from parking_hub.api.limits import REQUEST_TIME_LIMIT_S, TimeLimit
from parking_hub.api.metrics import metrics_key
from parking_hub.api.nearest import LotRows, lot_rows_key
from parking_hub.api.publications import Publications, publications_key
from parking_hub.api.routes import setup_routes
from parking_hub.api.stream import StreamLimits, Streams, close_streams, stream, streams_key
from parking_hub.map_tiles import MapTiles
from parking_hub.observe import Health
from parking_hub.query.live import LiveCity

MAX_REQUEST_BYTES = 64 * 1024


def create_app(
    live: LiveCity | None,
    health: Health,
    metrics: CollectorRegistry,
    *,
    cors_origins: Sequence[str] = ("*",),
    stream_limits: StreamLimits | None = None,
    access: Access | None = None,
    map_tiles: MapTiles | None = None,
) -> web.Application:
    """Every role answers the probes; only roles that keep the availability mirror (`live`) answer /v1."""
    serve_api = live is not None
    time_limit = TimeLimit(REQUEST_TIME_LIMIT_S, untimed={stream})
    access = access or Access()
    cors = CorsPolicy.of(cors_origins)
    # One middleware for every concern around a handler; a feature that is off costs it one test,
    # and installs no header hook: each hook costs every request.
    guard = Guard(HttpMetrics(metrics), time_limit, access, cors, ngsi_ld=serve_api)
    app = web.Application(middlewares=[guard.middleware], client_max_size=MAX_REQUEST_BYTES)
    if live is not None:
        app[live_key] = live
    app[health_key] = health
    app[metrics_key] = metrics
    app[cors_key] = cors
    app[access_key] = access
    app[streams_key] = Streams(stream_limits or StreamLimits())
    app[lot_rows_key] = LotRows()
    app[publications_key] = Publications()
    app[dashboard_key] = Dashboard.of(map_tiles)
    app.on_response_prepare.append(add_standard_headers)
    if cors.on:
        app.on_response_prepare.append(add_cors_headers)
    if access.keys is not None:
        app.on_response_prepare.append(keep_keyed_answers_private)
    app.on_shutdown.append(close_streams)
    app.cleanup_ctx.append(time_limit.watchdog)
    setup_routes(app, serve_api=serve_api)
    return app
