"""Scale-out figures: ingest events/s with 1 and 2 ingest processes, query rate, and Redis memory per
million berths, on a standalone Redis and on a local 3-primary Redis Cluster.

    python -m benchmarks.scale [--quick]

The full run is a country's worth of berths: 10,000,000 in 50,000 lots of 200. For each Redis it
loads the registry, reports every berth once (the memory figure), starts one API process, then
measures ingest with 1 and then 2 ingest processes sharing the stream (`--share-group`), each run
a fresh publisher process sending batch frames at QoS 1 through a private Mosquitto; then wrk
against the API's /v1/nearest. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from redis.asyncio import RedisCluster

from benchmarks.http_load import run_wrk, write_script
from benchmarks.ingest import bench_lots, hub_process, hub_rate, report_every_berth
from benchmarks.query import CONNECTIONS, nearest_paths
from benchmarks.tools import find, missing
from parking_hub.config import RedisTarget
from parking_hub.embedded import mqtt_broker, redis_server
from parking_hub.embedded_cluster import redis_cluster
from parking_hub.store.connection import connect
from parking_hub.store.lots import save_lots

FULL = {"lots": 50_000, "capacity": 200, "events": 2_000_000, "seconds": 10}
QUICK = {"lots": 2_000, "capacity": 100, "events": 200_000, "seconds": 3}
FRAME_EVENTS = 200  # one gateway frame covers a lot of 200 berths once
POINTS = 2_000
UNUSED_MQTT = "mqtt://127.0.0.1:1"  # the API role never connects to the broker


def say(message: str) -> None:
    print(f"benchmarks.scale: {message}", file=sys.stderr, flush=True)


@contextmanager
def redis_for(mode: str, workdir: Path) -> Iterator[str]:
    with (redis_cluster if mode == "cluster" else redis_server)(workdir) as url:
        yield url


async def used_memory(redis_url: str) -> int:
    """Bytes Redis uses for data and overhead (INFO used_memory), summed over a cluster's primaries."""
    async with connect(RedisTarget.from_url(redis_url)) as redis:
        if isinstance(redis, RedisCluster):
            nodes = await redis.info("memory", target_nodes=RedisCluster.PRIMARIES)
            return sum(int(node["used_memory"]) for node in nodes.values())
        info = await redis.info("memory")
    return int(info["used_memory"])


async def fill(redis_url: str, lots: int, capacity: int) -> dict[str, float]:
    registry = bench_lots(lots, capacity)
    async with connect(RedisTarget.from_url(redis_url)) as redis:
        empty = await used_memory(redis_url)
        await save_lots(redis, registry)
        start = time.perf_counter()
        await report_every_berth(redis, registry)
        seconds = time.perf_counter() - start
    used = await used_memory(redis_url)
    berths = lots * capacity
    return {
        "redis_mib": used / 2**20,
        "redis_mib_per_million_berths": (used - empty) / 2**20 / (berths / 1e6),
        "fill_events_per_s": berths / seconds,
    }


def query_points(lots: int) -> list[tuple[float, float]]:
    """Places along the row of bench lots (120.0 + i * 1e-4 E, 36.0 N), up to 300 m off it."""
    rng = np.random.default_rng(5)
    lon = 120.0 + rng.uniform(0, lots * 1e-4, POINTS)
    lat = 36.0 + rng.uniform(-0.003, 0.003, POINTS)
    return list(zip(lat.tolist(), lon.tolist(), strict=True))


async def measure(mode: str, size: dict[str, int], workdir: Path) -> dict[str, Any]:
    lots, capacity = size["lots"], size["capacity"]
    result: dict[str, Any] = {}
    with redis_for(mode, workdir) as redis_url:
        say(f"{mode}: {lots:,} lots, {lots * capacity:,} berths, every berth reported once")
        result["memory"] = await fill(redis_url, lots, capacity)
        async with hub_process(redis_url, UNUSED_MQTT, workdir, "api") as (api, _):
            for processes in (1, 2):
                say(f"{mode}: {size['events']:,} events, {processes} ingest process(es)")
                # A fresh broker per run: Mosquitto goes on queueing a share of the stream for the
                # persistent session of a stopped group member, which would hold back the next run.
                async with AsyncExitStack() as stack:
                    mqtt_url = stack.enter_context(mqtt_broker(workdir))
                    for _ in range(processes):
                        await stack.enter_async_context(
                            hub_process(redis_url, mqtt_url, workdir, "ingest", "--share-group", "bench")
                        )
                    rate = await hub_rate(
                        api, mqtt_url, size["events"], lots,
                        capacity=capacity, frame_events=FRAME_EVENTS,
                    )  # fmt: skip
                result[f"ingest_{processes}_events_per_s"] = round(rate)
            say(f"{mode}: wrk /v1/nearest on the API process")
            script = write_script(workdir / "nearest.lua", nearest_paths(query_points(lots), "lot"))
            wrk = find("wrk") or "wrk"
            run_wrk(wrk, api, seconds=1, connections=CONNECTIONS, script=script)  # warm-up
            query = run_wrk(wrk, api, seconds=size["seconds"], connections=CONNECTIONS, script=script)
        result["nearest_rps"] = round(query.requests_per_s)
        result["nearest_p99_ms"] = query.p99_ms
        result["nearest_errors"] = query.errors
    return result


async def run(quick: bool) -> dict[str, Any]:
    size = QUICK if quick else FULL
    report: dict[str, Any] = {
        "lots": size["lots"],
        "berths": size["lots"] * size["capacity"],
        "events_per_run": size["events"],
        "frame_events": FRAME_EVENTS,
        "wrk": f"-t1 -c{CONNECTIONS} -d{size['seconds']}s",
    }
    for mode in ("standalone", "cluster"):
        with tempfile.TemporaryDirectory(prefix=f"bench-scale-{mode}-") as tmp:
            report[mode] = await measure(mode, size, Path(tmp))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on a small city")
    args = parser.parse_args()
    needs = missing(["redis-server", "wrk"], postgis=False)
    if needs:
        print("benchmarks.scale needs, as root:\n  " + "\n  ".join(needs), file=sys.stderr)
        sys.exit(2)
    print(orjson.dumps(asyncio.run(run(args.quick))).decode())


if __name__ == "__main__":
    main()
