"""Prometheus figures for the HTTP API: requests by route and status, latency, requests in progress.

Routes are labelled by their template (`/v1/lots/{lot_id}`), never the raw path, so a client
cannot grow the number of series; requests that match no route share the label `unmatched`.
A Server-Sent Events stream is one request in progress for as long as it is open, so
`parking_hub_http_requests_in_progress{route="/v1/stream"}` is the number of stream clients.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "parking_hub_http_requests",
            "HTTP requests answered, by route template and status",
            ["route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "parking_hub_http_request_seconds",
            "From a request's arrival to its handler's return, by route template (for /v1/stream: "
            "how long the stream stayed open)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "parking_hub_http_requests_in_progress",
            "Requests being answered, by route template; route=/v1/stream counts the open streams",
            ["route"],
            registry=registry,
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        started = time.perf_counter()
        # A handler cancelled because the server is stopping answered nothing, so it is not counted.
        with self.in_progress.labels(route).track_inprogress():
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                self._answered(route, exc.status, started)
                raise
            except Exception:
                self._answered(route, 500, started)  # aiohttp answers it with a 500
                raise
        self._answered(route, response.status, started)
        return response

    def _answered(self, route: str, status: int, started: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(time.perf_counter() - started)
