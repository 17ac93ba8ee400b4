"""Prometheus figures for the HTTP API: requests by route and status, latency, requests in progress.

The request guard (`guard.py`) reports each request. Routes are labelled by their template
(`/v1/lots/{lot_id}`), never the raw path, so a client
cannot grow the number of series; requests that match no route share the label `unmatched`.
A Server-Sent Events stream is one request in progress for as long as it is open, so
`parking_hub_http_requests_in_progress{route="/v1/stream"}` is the number of stream clients.

The figures are plain counters that a collector turns into metric families when /metrics is
scraped: prometheus-client's labelled metrics take a lock and a label lookup per update, which
cost the API about a fifth of its request rate.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


class _Latency:
    __slots__ = ("counts", "total_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last is above every bound
        self.total_s = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total_s += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        buckets, running = [], 0
        for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), self.counts, strict=True):
            running += count
            buckets.append((bound, float(running)))
        return buckets


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._answered: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._latency: defaultdict[str, _Latency] = defaultdict(_Latency)
        self._in_progress: defaultdict[str, int] = defaultdict(int)
        registry.register(self)

    def started(self, route: str) -> float:
        self._in_progress[route] += 1
        return time.perf_counter()

    def left(self, route: str) -> None:
        """The request is no longer in progress, answered or not (a handler cancelled because the
        server is stopping answered nothing, so it is not counted)."""
        self._in_progress[route] -= 1

    def answered(self, route: str, status: int, started: float) -> None:
        self._answered[route, str(status)] += 1
        self._latency[route].observe(time.perf_counter() - started)

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "parking_hub_http_requests",
            "HTTP requests answered, by route template and status",
            labels=["route", "status"],
        )
        for (route, status), count in list(self._answered.items()):
            requests.add_metric([route, status], count)
        yield requests
        latency = HistogramMetricFamily(
            "parking_hub_http_request_seconds",
            "From a request's arrival to its handler's return, by route template (for /v1/stream: "
            "how long the stream stayed open)",
            labels=["route"],
        )
        for route, figures in list(self._latency.items()):
            latency.add_metric([route], figures.cumulative(), figures.total_s)
        yield latency
        in_progress = GaugeMetricFamily(
            "parking_hub_http_requests_in_progress",
            "Requests being answered, by route template; route=/v1/stream counts the open streams",
            labels=["route"],
        )
        for route, count in list(self._in_progress.items()):
            in_progress.add_metric([route], count)
        yield in_progress
