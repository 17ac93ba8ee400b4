"""Ingest throughput, freshness, memory and overload, against raw Redis and raw broker baselines in
the same run.

    python -m benchmarks.ingest [--quick] [--phase single]

Starts a private Redis and Mosquitto, a hub (`parking-hub serve`) as processes of their own, and
publishers as processes of their own; prints one JSON line of figures. Phases: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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

from benchmarks.cstream import (
    NWAVE_CODEC,
    Stream,
    berth_stream,
    broker_address,
    mosquitto_sub_rate,
    publisher_rate,
    publishers,
    uplink_devices,
    uplink_stream,
)
from benchmarks.publisher import FRAME_EVENTS
from parking_hub.embedded import free_port, mqtt_broker, redis_server
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.formats import Decoded
from parking_hub.rank import rank_of
from parking_hub.registry import Device, Lot, read_registry
from parking_hub.store.apply import StateWriter
from parking_hub.store.connection import RedisClient
from parking_hub.store.layout import Layout
from parking_hub.store.lots import save_lots

PREFIX = "bench"
CAPACITY = 1_000
SAMPLE_S = 0.5
STALL_S = 30.0  # a hub that applies nothing for this long is not going to finish
BATCHES_METRIC = re.compile(r"^parking_hub_ingest_batches_total (\S+)$", re.MULTILINE)
LAG_METRIC = re.compile(r"^parking_hub_ingest_lag_seconds(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


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
    """A benchmarks.publisher process: builds its frames, then publishes on `go()`."""

    def __init__(
        self,
        mqtt_url: str,
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


async def hub_rate(base: str, mqtt_url: str, count: int, lots: int, **publisher_args: int) -> float:
    """Events per second in frames, from the publisher's go to the hub having applied every event."""
    async with aiohttp.ClientSession() as http:
        before = await applied_total(http, base)
        publisher = Publisher(mqtt_url, count, lots, **publisher_args)
        await publisher.ready()
        start = time.perf_counter()
        publisher.go()
        while await applied_total(http, base) < before + count:  # noqa: ASYNC110 - polls the hub's HTTP API
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        await publisher.done()
    return count / elapsed


async def hub_stream_rate(base: str, mqtt_url: str, stream: Stream) -> float:
    """Messages/s from the first line handed to the C publishers to the hub having applied them all."""
    async with aiohttp.ClientSession() as http, publishers(mqtt_url, stream) as pubs:
        before = await applied_total(http, base)
        target = before + stream.count
        await pubs.send()
        applied, progressed = before, time.perf_counter()
        while applied < target:
            await asyncio.sleep(0.02)
            now_applied = await applied_total(http, base)
            if now_applied > applied:
                applied, progressed = now_applied, time.perf_counter()
            elif time.perf_counter() - progressed > STALL_S:
                raise SystemExit(
                    f"the hub applied {applied - before:,} of {stream.count:,} messages, then stopped"
                )
        return stream.count / (time.perf_counter() - pubs.started)


async def sample(http: aiohttp.ClientSession, ingest: str, pid: int) -> tuple[float, int, float | None]:
    """The ingest process's RSS (MiB), its /readyz status, and its lag metric (None when absent)."""
    rss = await memory_kib(pid, "VmRSS") / 1024
    async with http.get(f"{ingest}/readyz") as resp:
        ready = resp.status
    async with http.get(f"{ingest}/metrics") as resp:
        metrics = await resp.text()
    lags = [float(value) for value in LAG_METRIC.findall(metrics)]
    return rss, ready, max(lags) if lags else None


async def overload(api: str, ingest: str, pid: int, mqtt_url: str, stream: Stream) -> dict[str, Any]:
    """The hub flooded as fast as the C publishers send, sampled every SAMPLE_S until it has applied
    everything or made no progress for STALL_S."""
    async with aiohttp.ClientSession() as http:
        before = await applied_total(http, api)
        idle_rss = await memory_kib(pid, "VmRSS") / 1024
        peak_rss, max_lag, not_ready = idle_rss, 0.0, 0
        async with publishers(mqtt_url, stream) as pubs:
            await pubs.send()
            applied, progressed, ticks = 0, pubs.started, 0
            while applied < stream.count and time.perf_counter() - progressed < STALL_S:
                ticks += 1
                await asyncio.sleep(max(0.0, pubs.started + ticks * SAMPLE_S - time.perf_counter()))
                rss, ready, lag = await sample(http, ingest, pid)
                peak_rss = max(peak_rss, rss)
                max_lag = max(max_lag, lag or 0.0)
                not_ready += ready == 503
                now_applied = await applied_total(http, api) - before
                if now_applied > applied:
                    applied, progressed = now_applied, time.perf_counter()
            drained = progressed - pubs.started
    return {
        "messages": stream.count,
        "idle_rss_mib": idle_rss,
        "peak_rss_growth_mib": peak_rss - idle_rss,
        "max_lag_s": max_lag,
        "not_ready_s": not_ready * SAMPLE_S,
        "drain_s": drained,
        "applied": applied,
        "all_applied": applied == stream.count,
    }


async def freshness(
    base: str, mqtt_url: str, load_rate: float, seconds: float, lots: int
) -> dict[str, float]:
    """Publish-to-visible latency of probe events while background frames run at load_rate."""
    import aiomqtt

    host, port = broker_address(mqtt_url)
    background = Publisher(mqtt_url, int(load_rate * seconds), lots, rate=load_rate)
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


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        ranks = rank_of(now - rng.integers(0, 600_000, lot.capacity), rng.integers(0, 2, lot.capacity))
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
        async with hub_process(redis_url, mqtt_url, workdir, "ingest") as (_, pid):
            ingest_rss_kb = await memory_kib(pid, "VmRSS")
    finally:
        await redis.aclose()
    mib = 1024 * 1024
    return {
        "lots": lots,
        "berths": berths,
        "redis_mib": redis_bytes / mib,
        "hub_rss_mib": rss_kb / 1024,  # --role all: ingest, and the API's mirror and compiled search
        "total_mib": redis_bytes / mib + rss_kb / 1024,
        "ingest_rss_mib": ingest_rss_kb / 1024,  # --role ingest: the registry's layout, no mirror
        "redis_bytes_per_berth": redis_bytes / berths,
    }


def lorawan_lot() -> Lot:
    devices = {device: Device(berth) for berth, device in enumerate(uplink_devices())}
    return Lot(
        "bench-lorawan",
        "LoRaWAN",
        "op",
        "off_street",
        len(devices),
        120.0,
        36.2,
        codec=NWAVE_CODEC,
        devices=devices,
    )


async def batches_written(ingest: str) -> int:
    """The ingest process's count of batches written to Redis."""
    async with aiohttp.ClientSession() as http, http.get(f"{ingest}/metrics") as resp:
        metrics = await resp.text()
    match = BATCHES_METRIC.search(metrics)
    if match is None:
        raise SystemExit("the ingest process's /metrics has no batch count")
    return int(float(match.group(1)))


async def single_messages(
    hub: tuple[str, str, int],
    mqtt_url: str,
    streams: dict[str, Stream],
    baselines: dict[str, dict[str, float]],
) -> dict[str, dict[str, float]]:
    """Each stream through the hub (API URL, ingest URL, ingest pid), beside the baselines measured
    on it before any hub connected; with the ingest process's CPU time per message, which other
    work on the machine changes less than it changes the rates, and the messages per batch it took,
    which that CPU time depends on."""
    base, ingest, ingest_pid = hub
    result = {}
    for name, stream in streams.items():
        progress(
            f"hub: {stream.count:,} {name} messages from the C publishers, QoS 1 (ingest pid {ingest_pid})"
        )
        cpu_before, batches_before = cpu_seconds(ingest_pid), await batches_written(ingest)
        rate = await hub_stream_rate(base, mqtt_url, stream)
        cpu = cpu_seconds(ingest_pid) - cpu_before
        batches = await batches_written(ingest) - batches_before
        result[name] = {
            **baselines[name],
            "hub_per_s": rate,
            "hub_vs_mosquitto_sub": rate / baselines[name]["mosquitto_sub_per_s"],
            "hub_cpu_us_per_message": cpu / stream.count * 1e6,
            "hub_messages_per_batch": stream.count / max(batches, 1),
        }
    return result


async def c_baselines(mqtt_url: str, streams: dict[str, Stream]) -> dict[str, dict[str, float]]:
    result = {}
    for name, stream in streams.items():
        progress(f"baseline: the C publishers alone, {stream.count:,} {name} messages")
        alone = await publisher_rate(mqtt_url, stream)
        progress(f"baseline: mosquitto_sub -q 1, the same {name} stream")
        sub = await mosquitto_sub_rate(mqtt_url, stream)
        result[name] = {"publisher_alone_per_s": alone, "mosquitto_sub_per_s": sub}
    return result


async def run(quick: bool, phase: str) -> dict[str, Any]:
    frames_events = 200_000 if quick else 5_000_000
    single_events = 20_000 if quick else 300_000
    flood_events = 50_000 if quick else 300_000
    lots = 200 if quick else 1_000
    lot_ids = [lot.id for lot in bench_lots(lots)]
    streams = {
        "single_berth": berth_stream(PREFIX, lot_ids, single_events),
        "tts_uplink": uplink_stream(single_events),
    }
    result: dict[str, Any] = {"quick": quick, "phase": phase}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
            port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
            if phase == "all":
                progress("baseline: redis-benchmark SETBIT -P 64")
                result["setbit_baseline_per_s"] = setbit_baseline(port, 1_000_000 if quick else 5_000_000)
            # Before any hub connects: the broker then queues nothing for a hub's persistent session.
            baselines = await c_baselines(mqtt_url, streams)
            redis = Redis.from_url(redis_url)
            await save_lots(
                redis,
                [
                    *bench_lots(lots),
                    Lot("bench-probe", "Probe", "op", "off_street", 1, 120.0, 36.1),
                    lorawan_lot(),
                ],
            )
            await redis.aclose()
            # One ingest process and one API process: the deployment the hub scales out with.
            async with (
                hub_process(redis_url, mqtt_url, workdir, "ingest") as (ingest, ingest_pid),
                hub_process(redis_url, mqtt_url, workdir, "api") as (base, _),
            ):
                hub = (base, ingest, ingest_pid)
                if phase == "single":
                    result["single"] = await single_messages(hub, mqtt_url, streams, baselines)
                    return result
                progress(f"hub: {frames_events:,} events in frames of 1,000, QoS 1")
                result["frames_events_per_s"] = await hub_rate(base, mqtt_url, frames_events, lots)
                result["single"] = await single_messages(hub, mqtt_url, streams, baselines)
                half = result["frames_events_per_s"] / 2
                progress(f"hub: freshness under {half:,.0f} events/s")
                result["freshness_at_half_load"] = await freshness(
                    base, mqtt_url, half, 5 if quick else 20, lots
                )
                result["ingest_peak_rss_mib"] = await memory_kib(ingest_pid, "VmHWM") / 1024
            progress(
                "memory: a city of 10,000,000 berths" if not quick else "memory: a city of 1,000,000 berths"
            )
            result["memory"] = await memory(
                redis_url, mqtt_url, workdir, 5_000 if quick else 50_000, 1_000_000 if quick else 10_000_000
            )
        # A broker and hub of its own: the broker would queue the flood for the stopped hubs'
        # persistent sessions too, and a fresh ingest process's RSS is its idle size.
        with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
            redis = Redis.from_url(redis_url)
            await save_lots(redis, bench_lots(lots))
            await redis.aclose()
            async with (
                hub_process(redis_url, mqtt_url, workdir, "ingest") as (ingest, ingest_pid),
                hub_process(redis_url, mqtt_url, workdir, "api") as (base, _),
            ):
                progress(f"overload: {flood_events:,} single-berth messages at once")
                result["overload"] = await overload(
                    base, ingest, ingest_pid, mqtt_url, berth_stream(PREFIX, lot_ids, flood_events)
                )
    result["frames_vs_setbit"] = result["frames_events_per_s"] / result["setbit_baseline_per_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--phase",
        choices=("all", "single"),
        default="all",
        help="single: only the single-message streams, their C baselines and the hub's CPU per message",
    )
    args = parser.parse_args()
    print(orjson.dumps(asyncio.run(run(args.quick, args.phase))).decode())


if __name__ == "__main__":
    main()
