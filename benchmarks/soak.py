"""Soak: a hub under steady load for a long time; memory, loss and freshness over time.

    python -m benchmarks.soak [--minutes 30] [--rate 1140000] [--every 60] [--role split|all]

Starts a private Redis and Mosquitto and the hub in the shape `benchmarks.ingest` measures its
sustained rate with (a `serve --role ingest` and a `serve --role api` process; `--role all` for one
process of both), loads a city, and runs `sensors-sim load` (frames of `--batch` events, random
berth flips stamped now, one lot kept apart as the freshness probe) in windows of `--every` seconds
until `--minutes` have passed. After each window it records the hub's RSS (its processes together),
the events the broker acknowledged and the hub applied, and the window's freshness (probe
acknowledged -> visible in GET /v1/lots). The default rate is 80% of the rate one ingest process
sustains in frames on this machine kind (1.42 M events/s, docs/benchmarks.md). Prints one line per
window on stderr and one JSON line of figures at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks.ingest import PREFIX, hub_process, memory_kib
from parking_hub.embedded import mqtt_broker, redis_server
from sensors_sim.city import CitySpec, write_city
from sensors_sim.hubapi import Hub
from sensors_sim.load import LoadOptions, LoadReport, run_load
from sensors_sim.publish import MqttUrl
from sensors_sim.registry import load_registry

DEFAULT_RATE = 1_140_000  # events/s: 80% of the frame rate benchmarks.ingest measures here
SETTLE_S = 120.0


def progress(message: str) -> None:
    print(f"benchmarks.soak: {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None


async def total_kib(pids: list[int], field: str) -> int:
    return sum([await memory_kib(pid, field) for pid in pids])


@contextlib.asynccontextmanager
async def hub_processes(
    redis_url: str, mqtt_url: str, workdir: Path, role: str
) -> AsyncIterator[tuple[str, list[int]]]:
    """The hub's base URL and its processes' pids: one process of `role` all, or ingest and API apart."""
    if role == "all":
        async with hub_process(redis_url, mqtt_url, workdir) as (base, pid):
            yield base, [pid]
        return
    async with (
        hub_process(redis_url, mqtt_url, workdir, "ingest") as (_, ingest_pid),
        hub_process(redis_url, mqtt_url, workdir, "api") as (base, api_pid),
    ):
        yield base, [ingest_pid, api_pid]


def window_figures(minute: float, report: LoadReport, rss_kib: int) -> dict[str, Any]:
    fresh = report.freshness_ms
    return {
        "minute": round(minute, 1),
        "acked_events": report.acked_events,
        "events_per_s": round(report.acked_events / max(report.seconds, 1e-9)),
        "hub_applied": report.hub_applied,
        "freshness_p50_ms": round(statistics.median(fresh), 1) if fresh else None,
        "freshness_p99_ms": percentile(fresh, 0.99),
        "freshness_max_ms": round(max(fresh), 1) if fresh else None,
        "probes": len(fresh),
        "probes_not_visible": report.probes_lost,
        "rss_mib": round(rss_kib / 1024, 1),
    }


async def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    city = workdir / "city.geojson"
    write_city(CitySpec(lots=args.lots, berths=args.berths, seed=5, prefix="soak"), city)
    registry = load_registry(city)
    with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
        load = [sys.executable, "-m", "parking_hub", "lots", "load", "--redis-url", redis_url, str(city)]
        await asyncio.to_thread(subprocess.run, load, check=True, capture_output=True)
        async with hub_processes(redis_url, mqtt_url, workdir, args.role) as (base, pids), Hub(base) as hub:
            url = MqttUrl.parse(mqtt_url.partition("?")[0])
            windows: list[dict[str, Any]] = []
            acked = 0  # load events and probes the broker acknowledged: each must be applied
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                duration = min(args.every, args.minutes * 60 - elapsed)
                options = LoadOptions(duration, args.rate, False, args.batch, PREFIX, len(windows) + 1)
                report = await run_load(registry, url, hub, options)
                acked += report.acked_events + len(report.freshness_ms) + report.probes_lost
                rss_kib = await total_kib(pids, "VmRSS")
                figures = window_figures((time.monotonic() - started) / 60, report, rss_kib)
                windows.append(figures)
                progress(" ".join(f"{k}={v}" for k, v in figures.items()))
            deadline = time.monotonic() + SETTLE_S
            while (applied := (await hub.get_ok("/v1/summary"))["events_applied"]) < acked:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            peak_kib = await total_kib(pids, "VmHWM")
    rss = [w["rss_mib"] for w in windows]
    return {
        "minutes": args.minutes,
        "rate_target": args.rate,
        "role": args.role,
        "lots": args.lots,
        "berths": args.berths,
        "events_acked": acked,
        "events_applied": applied,
        "lost": max(0, acked - applied),
        "rss_first_mib": rss[0],
        "rss_last_mib": rss[-1],
        "rss_growth_mib": round(rss[-1] - rss[0], 1),
        "rss_peak_mib": round(peak_kib / 1024, 1),
        "windows": windows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    rate_help = f"events/s (default {DEFAULT_RATE:,})"
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help=rate_help)
    parser.add_argument("--every", type=float, default=60.0, help="seconds per window (default 60)")
    parser.add_argument("--batch", type=int, default=1_000, help="events per frame (default 1,000)")
    parser.add_argument(
        "--role",
        choices=("split", "all"),
        default="split",
        help="split (default): a --role ingest and a --role api process; all: one --role all process",
    )
    parser.add_argument("--lots", type=int, default=200)
    parser.add_argument("--berths", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        result = asyncio.run(soak(args, Path(tmp)))
    print(orjson.dumps(result).decode(), flush=True)
    if result["lost"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
