"""Ingest throughput, freshness and memory, against raw Redis and raw broker baselines in the same run.

    python -m benchmarks.ingest [--quick]

Starts a private Redis and Mosquitto, a hub (`parking-hub serve`) as a process of its own, and
publishers as processes of their own; prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
from redis.asyncio import Redis

from benchmarks.publisher import FRAME_EVENTS
from parking_hub.embedded import free_port, mqtt_broker, redis_server
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.formats import Decoded
from parking_hub.registry import Lot, read_registry
from parking_hub.store.apply import StateWriter
from parking_hub.store.connection import RedisClient
from parking_hub.store.layout import Layout
from parking_hub.store.lots import save_lots

PREFIX = "bench"
CAPACITY = 1_000


def progress(message: str) -> None:
    print(f"benchmarks.ingest: {message}", file=sys.stderr, flush=True)


def bench_lots(count: int, capacity: int = CAPACITY) -> list[Lot]:
    return [
        Lot(f"bench-{i:05d}", f"Bench {i}", "op", "off_street", capacity, 120.0 + i * 1e-4, 36.0)
        for i in range(count)
    ]


def setbit_baseline(port: int, requests: int) -> float:
    """redis-benchmark, 64 pipelined SETBITs: the server's raw write rate.

    (redis-benchmark's __rand_int__ is zero-padded, which SETBIT refuses as an offset.)"""
    tool = shutil.which("redis-benchmark") or shutil.which("valkey-benchmark")
    if tool is None:
        raise SystemExit("install redis-tools (redis-benchmark) for the SETBIT baseline")
    out = subprocess.run(
        [
            tool,
            "-p",
            str(port),
            "-P",
            "64",
            "-n",
            str(requests),
            "-q",
            "SETBIT",
            "bench:setbit",
            "1000000",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"([\d.]+) requests per second", out)
    if match is None:
        raise SystemExit(f"cannot read redis-benchmark output: {out!r}")
    return float(match.group(1))


class Publisher:
    """A benchmarks.publisher process: builds its payloads, then publishes on `go()`."""

    def __init__(
        self,
        mqtt_url: str,
        mode: str,
        count: int,
        lots: int,
        rate: float = 0.0,
        *,
        capacity: int = CAPACITY,
        frame_events: int = FRAME_EVENTS,
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "benchmarks.publisher",
            "--mqtt-url",
            mqtt_url,
            "--prefix",
            PREFIX,
            "--lots",
            str(lots),
            "--capacity",
            str(capacity),
            "--mode",
            mode,
            "--count",
            str(count),
            "--rate",
            str(rate),
            "--frame-events",
            str(frame_events),
        ]
        self.proc: asyncio.subprocess.Process | None = None

    async def ready(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if line.strip() != b"READY":
            raise SystemExit(f"publisher failed to start: {line!r}")

    def go(self) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")

    async def done(self) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        await self.proc.wait()
        result: dict[str, Any] = orjson.loads(line)
        return result


@asynccontextmanager
async def hub_process(
    redis_url: str, mqtt_url: str, workdir: Path, role: str = "all", *extra: str
) -> AsyncIterator[tuple[str, int]]:
    """A `parking-hub serve` process; yields its base URL and pid once /readyz answers 200."""
    port = free_port()
    log = (workdir / f"hub-{role}-{port}.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "parking_hub",
        "serve",
        "--redis-url",
        redis_url,
        "--mqtt-url",
        mqtt_url,
        "--http",
        f"127.0.0.1:{port}",
        "--topic-prefix",
        PREFIX,
        "--client-id",
        f"bench-hub-{port}",
        "--role",
        role,
        *extra,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"{base}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit(f"the hub did not become ready; see {log.name}")
        yield base, proc.pid
    finally:
        proc.terminate()
        await proc.wait()
        log.close()


async def applied_total(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(f"{base}/v1/summary") as resp:
        body = await resp.json()
        return int(body["events_applied"])


async def hub_rate(
    base: str, mqtt_url: str, mode: str, count: int, lots: int, **publisher_args: int
) -> float:
    """Events per second from the publisher's go to the hub having applied every event."""
    async with aiohttp.ClientSession() as http:
        before = await applied_total(http, base)
        publisher = Publisher(mqtt_url, mode, count, lots, **publisher_args)
        await publisher.ready()
        start = time.perf_counter()
        publisher.go()
        while await applied_total(http, base) < before + count:  # noqa: ASYNC110 - polls the hub's HTTP API
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        await publisher.done()
    return count / elapsed


async def mosquitto_sub_rate(mqtt_url: str, count: int, lots: int) -> float:
    """The C subscriber's receive rate for the same single-event QoS 1 stream."""
    host, _, port = mqtt_url.removeprefix("mqtt://").partition("?")[0].partition(":")
    tool = shutil.which("mosquitto_sub")
    if tool is None:
        raise SystemExit("install mosquitto-clients (mosquitto_sub) for the broker baseline")
    sub = await asyncio.create_subprocess_exec(
        tool,
        "-h",
        host,
        "-p",
        port,
        "-q",
        "1",
        "-t",
        f"{PREFIX}/v1/lots/#",
        "-C",
        str(count),
        stdout=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(0.5)  # subscribed
    publisher = Publisher(mqtt_url, "single", count, lots)
    await publisher.ready()
    start = time.perf_counter()
    publisher.go()
    await sub.wait()
    elapsed = time.perf_counter() - start
    await publisher.done()
    return count / elapsed


async def freshness(
    base: str, mqtt_url: str, load_rate: float, seconds: float, lots: int
) -> dict[str, float]:
    """Publish-to-visible latency of probe events while background frames run at load_rate."""
    import aiomqtt

    host, _, port = mqtt_url.removeprefix("mqtt://").partition("?")[0].partition(":")
    background = Publisher(mqtt_url, "frames", int(load_rate * seconds), lots, rate=load_rate)
    await background.ready()
    background.go()
    latencies: list[float] = []
    probe = "bench-probe"
    async with (
        aiomqtt.Client(host, int(port), identifier="bench-probe") as client,
        aiohttp.ClientSession() as http,
    ):
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            ts = time.time_ns() // 1_000_000
            body = orjson.dumps({"occupied": n % 2, "ts": ts})
            sent = time.perf_counter()
            await client.publish(f"{PREFIX}/v1/lots/{probe}/berths/0", body, qos=1)
            while True:
                async with http.get(f"{base}/v1/lots/{probe}") as resp:
                    state = await resp.json()
                if state["occupied"] == n % 2 and state["events_applied"] >= n:
                    break
                await asyncio.sleep(0.001)
            latencies.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.02)
    await background.done()
    arr = np.array(latencies)
    return {
        "probes": len(arr),
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
    }


async def memory_kib(pid: int, field: str) -> int:
    """A process's memory figure from /proc: VmRSS now, VmHWM at its peak."""
    status = await asyncio.to_thread(Path(f"/proc/{pid}/status").read_text)
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field}:"))


async def report_every_berth(redis: RedisClient, registry: Sequence[Lot]) -> None:
    """Every berth of every lot reported once, in the last 10 minutes, through the hub's writer."""
    writer = StateWriter(redis)
    layout = Layout.build({lot.id: lot.capacity for lot in registry})
    rng = np.random.default_rng(2)
    now = time.time_ns() // 1_000_000
    builder = BatchBuilder()
    for lot in registry:
        every_berth = np.arange(lot.capacity, dtype=np.int64)
        ranks = (now - rng.integers(0, 600_000, lot.capacity)) * 2 + rng.integers(0, 2, lot.capacity)
        builder.add(Decoded(lot.id, every_berth, ranks))
        if builder.events >= 200_000:
            await writer.write(builder.build(layout))
            builder = BatchBuilder()
    await writer.write(builder.build(layout))


async def memory(redis_url: str, mqtt_url: str, workdir: Path, lots: int, berths: int) -> dict[str, float]:
    """Redis memory and hub RSS with every berth of a large city reported once."""
    city = workdir / "big-city.geojson"
    await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "sensors_sim",
            "city",
            "-o",
            str(city),
            "--lots",
            str(lots),
            "--berths",
            str(berths),
        ],
        check=True,
        capture_output=True,
    )
    registry = read_registry(city)
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushall()
        await save_lots(redis, registry)
        await report_every_berth(redis, registry)
        info = await redis.info("memory")
        redis_bytes = float(info["used_memory"])
        async with hub_process(redis_url, mqtt_url, workdir) as (_, pid):
            rss_kb = await memory_kib(pid, "VmRSS")
    finally:
        await redis.aclose()
    mib = 1024 * 1024
    return {
        "lots": lots,
        "berths": berths,
        "redis_mib": redis_bytes / mib,
        "hub_rss_mib": rss_kb / 1024,
        "total_mib": redis_bytes / mib + rss_kb / 1024,
        "redis_bytes_per_berth": redis_bytes / berths,
    }


async def run(quick: bool) -> dict[str, Any]:
    frames_events = 200_000 if quick else 5_000_000
    single_events = 20_000 if quick else 300_000
    lots = 200 if quick else 1_000
    result: dict[str, Any] = {"quick": quick}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
            port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
            progress("baseline: redis-benchmark SETBIT -P 64")
            result["setbit_baseline_per_s"] = setbit_baseline(port, 1_000_000 if quick else 5_000_000)
            redis = Redis.from_url(redis_url)
            await save_lots(
                redis, [*bench_lots(lots), Lot("bench-probe", "Probe", "op", "off_street", 1, 120.0, 36.1)]
            )
            await redis.aclose()
            # One ingest process and one API process: the deployment the hub scales out with.
            async with (
                hub_process(redis_url, mqtt_url, workdir, "ingest") as (_, ingest_pid),
                hub_process(redis_url, mqtt_url, workdir, "api") as (base, _),
            ):
                progress(f"hub: {frames_events:,} events in frames of 1,000, QoS 1")
                result["frames_events_per_s"] = await hub_rate(base, mqtt_url, "frames", frames_events, lots)
                progress(f"hub: {single_events:,} single-berth messages, QoS 1")
                result["single_events_per_s"] = await hub_rate(base, mqtt_url, "single", single_events, lots)
                half = result["frames_events_per_s"] / 2
                progress(f"hub: freshness under {half:,.0f} events/s")
                result["freshness_at_half_load"] = await freshness(
                    base, mqtt_url, half, 5 if quick else 20, lots
                )
                result["ingest_peak_rss_mib"] = await memory_kib(ingest_pid, "VmHWM") / 1024
            progress("baseline: mosquitto_sub, the same single-event stream")
            result["mosquitto_sub_per_s"] = await mosquitto_sub_rate(mqtt_url, single_events, lots)
            progress(
                "memory: a city of 10,000,000 berths" if not quick else "memory: a city of 1,000,000 berths"
            )
            result["memory"] = await memory(
                redis_url, mqtt_url, workdir, 5_000 if quick else 50_000, 1_000_000 if quick else 10_000_000
            )
    result["frames_vs_setbit"] = result["frames_events_per_s"] / result["setbit_baseline_per_s"]
    result["single_vs_mosquitto_sub"] = result["single_events_per_s"] / result["mosquitto_sub_per_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    print(orjson.dumps(asyncio.run(run(args.quick))).decode())


if __name__ == "__main__":
    main()
