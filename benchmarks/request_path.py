"""The request path's cost, step by step: CPU time per request inside one process, no network.

    python -m benchmarks.request_path            # 50,000 lots, 1,000,000 berths; about 2 minutes
    python -m benchmarks.request_path --quick    # 2,000 lots

Requests are fed to aiohttp's own connection handler through an in-memory transport, one at a
time, and the answers are counted as they are written: the parser, routing, middlewares, the
handler and the response writer all run as they do behind a socket, but no system call does, so
the figures are CPU microseconds of Python, steadier on a shared machine than a load test's rate.
Each figure is the best of several rounds. The baseline, in the same run: a trivial aiohttp
handler served the same way. The app is the hub's own (`create_app`) over the benchmark city of
`benchmarks.query`, with each feature off and on. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiDict
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from benchmarks.query import fill_state, loaded_mirror, nearest_paths, random_points, write_city
from parking_hub.api import params
from parking_hub.api.access import Access
from parking_hub.api.app import create_app
from parking_hub.api.nearest import LotRows, _lot_results
from parking_hub.api.schemas import NearestParams
from parking_hub.config import RateLimit
from parking_hub.embedded import redis_server
from parking_hub.observe import Health
from parking_hub.query.availability import Availability
from parking_hub.query.live import LiveCity, now_ms
from parking_hub.query.nearest import NearestQuery, nearest_lots

FULL = {"lots": 50_000, "berths": 1_000_000}
QUICK = {"lots": 2_000, "berths": 200_000}
ROUNDS, PER_ROUND = 9, 2000
ORIGIN = b"Origin: https://app.example.com\r\n"


class _Wire(asyncio.Transport):
    """A connection that keeps nothing: it counts the answers written and wakes the driver."""

    def __init__(self) -> None:
        super().__init__()
        self.written: asyncio.Future[None] | None = None
        self.failed = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data[:9]) == b"HTTP/1.1 " and bytes(data[9:12]) != b"200":
            self.failed += 1
        if self.written is not None and not self.written.done():
            self.written.set_result(None)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def requests(paths: Sequence[str], headers: bytes = b"") -> list[bytes]:
    return [b"GET %s HTTP/1.1\r\nHost: hub\r\n%s\r\n" % (p.encode(), headers) for p in paths]


async def cpu_us_per_request(server: web.Server, wire_requests: Sequence[bytes]) -> float:
    """Best round's CPU microseconds per request, after a warm-up round."""
    loop = asyncio.get_running_loop()
    protocol, wire = server(), _Wire()
    protocol.connection_made(wire)
    best = float("inf")
    for round_ in range(ROUNDS + 1):
        start = time.process_time_ns()
        for k in range(PER_ROUND):
            wire.written = loop.create_future()
            protocol.data_received(wire_requests[k % len(wire_requests)])
            await wire.written
        if round_:  # the first round warms the caches
            best = min(best, (time.process_time_ns() - start) / PER_ROUND / 1000)
    protocol.connection_lost(None)
    if wire.failed:
        raise RuntimeError(f"{wire.failed} answers were not 200")
    return round(best, 1)


def step_us(step: Callable[[], object], count: int = 20_000) -> float:
    step()
    best = float("inf")
    for _ in range(5):
        start = time.process_time_ns()
        for _ in range(count):
            step()
        best = min(best, (time.process_time_ns() - start) / count / 1000)
    return round(best, 2)


async def trivial_server() -> web.AppRunner:
    body = orjson.dumps({"ok": True})

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    return runner


async def hub_server(redis: Redis, state: Availability, **options: Any) -> web.AppRunner:
    health = Health(redis_ok=True, mqtt_connected=None, index_loaded=True)
    live = LiveCity(redis)  # never run: the mirror is given
    live.state, live.in_sync = state, True
    runner = web.AppRunner(create_app(live, health, CollectorRegistry(), **options), access_log=None)
    await runner.setup()
    return runner


async def measure(redis_url: str, points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    redis = Redis.from_url(redis_url)
    try:
        state = await loaded_mirror(redis)
        lot_level = requests(nearest_paths(points, "lot"))
        result: dict[str, Any] = {}
        trivial = await trivial_server()
        assert trivial.server is not None
        result["trivial_us"] = await cpu_us_per_request(trivial.server, requests(["/"]))
        await trivial.cleanup()
        configs: dict[str, dict[str, Any]] = {
            "defaults": {},  # CORS on for any origin; keys and rate limits off
            "cors_off": {"cors_origins": ()},
            "rate_limited": {"access": Access.of(None, RateLimit(1e9, 10**9))},
        }
        for name, options in configs.items():
            runner = await hub_server(redis, state, **options)
            assert runner.server is not None
            figures = {
                "healthz_us": await cpu_us_per_request(runner.server, requests(["/healthz"])),
                "nearest_lot_us": await cpu_us_per_request(runner.server, lot_level),
            }
            if name == "defaults":
                with_origin = requests(nearest_paths(points, "lot"), ORIGIN)
                figures["nearest_lot_with_origin_us"] = await cpu_us_per_request(runner.server, with_origin)
            result[name] = figures
            await runner.cleanup()
    finally:
        await redis.aclose()
    lat, lon = points[0]
    query_string = MultiDict(lat=f"{lat:.6f}", lon=f"{lon:.6f}", limit="5", radius_m="2000", level="lot")
    query = NearestQuery(lat, lon)
    rows = LotRows()
    arrival_ms = now_ms()
    result["steps_us"] = {
        "parse_parameters": step_us(lambda: params.parse(NearestParams, query_string)),
        "nearest_lots": step_us(lambda: nearest_lots(state, query)),
        "search_and_render_rows": step_us(lambda: _lot_results(rows, state, query, arrival_ms)),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.request_path", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a small city")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-path-") as tmp, redis_server(Path(tmp)) as redis_url:
        print(f"[benchmarks.request_path] city of {size['lots']:,} lots", file=sys.stderr, flush=True)
        city = Path(tmp) / "city.geojson"
        write_city(city, size["lots"], size["berths"], redis_url)
        rows = asyncio.run(fill_state(redis_url, orjson.loads(city.read_bytes())["features"]))
        result = asyncio.run(measure(redis_url, random_points(rows, 2000)))
    print(orjson.dumps({"lots": size["lots"], "berths": size["berths"], **result}).decode())


if __name__ == "__main__":
    main()
