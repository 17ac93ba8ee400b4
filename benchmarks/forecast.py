"""Forecasts of free berths on held-out weeks, against persistence and the weekday/slot mean.

    python -m benchmarks.forecast [--quick]

Starts a private Redis and Mosquitto and a hub (`parking-hub serve`), then `sensors-sim run` replays
five simulated weeks (weekdays, weekends and event days) at full speed, ending now: the hub builds
each lot's history from the reports' own `ts`. The history the hub kept is then read with the hub's
own reader: weeks 1-4 fit each lot's model (the hub's `forecast.fit`), and from every 15-minute
sample of week 5 the model forecasts 15, 30, 60 and 120 minutes ahead; the truth is the hub's
sample at that time. Baselines, from the same samples: persistence (free then = free now) and the
mean of weeks 1-4 for that weekday and slot. Prints one JSON line: MAE in free berths per horizon
for the model, the model without pooling days and both baselines, the 80% interval's coverage, the
replay's rate, the history's Redis memory per lot, and what sampling history costs the ingest
writer (events/s with no boundary crossed against every lot crossing one in every batch).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
from redis.asyncio import Redis

from benchmarks.ingest import PREFIX, hub_process
from parking_hub.embedded import mqtt_broker, redis_server
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.formats import Decoded
from parking_hub.query import forecast
from parking_hub.rank import rank_of
from parking_hub.registry import read_registry
from parking_hub.store import history, redis_keys
from parking_hub.store.apply import StateWriter
from parking_hub.store.layout import Layout
from parking_hub.store.lots import save_lots

HORIZONS_MIN = (15, 30, 60, 120)
# The model; the same without pooling weekdays that look alike (the simpler model); the baselines.
MODELS = ("model", "unpooled", "persistence", "slot_mean")
WEEK_S = 7 * 86_400
WEEKS = 5
EVENT_DAYS = 0.15
SETTLE_S = 600.0  # the hub must apply the replay within this long after the simulator ends
SETTLE_POLL_S = 2.0
# ingest_cost: batches of COST_EVENTS reports for each of COST_LOTS lots, every report winning.
COST_LOTS, COST_CAPACITY, COST_EVENTS, COST_BATCHES = 200, 250, 20, 240


def progress(message: str) -> None:
    print(f"benchmarks.forecast: {message}", file=sys.stderr, flush=True)


async def simulate(registry: Path, mqtt_url: str, hours: float) -> tuple[float, str]:
    """`sensors-sim run` at full speed; its wall time and its closing line."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sensors_sim",
        "run",
        "--lots",
        str(registry),
        "--mqtt-url",
        mqtt_url,
        "--topic-prefix",
        PREFIX,
        "--speed",
        "max",
        "--hours",
        str(hours),
        "--event-days",
        str(EVENT_DAYS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"sensors-sim run failed: {err.decode()[-2000:]}")
    return time.monotonic() - started, (out + err).decode().strip().splitlines()[-1]


async def settled(base: str) -> int:
    """Waits until the hub's applied-event count stops moving; returns it."""
    deadline = time.monotonic() + SETTLE_S
    last = -1
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{base}/v1/summary") as resp:
                applied = int((await resp.json())["events_applied"])
            if applied == last:
                return applied
            last = applied
            await asyncio.sleep(SETTLE_POLL_S)
    raise SystemExit("the hub did not finish applying the replay")


async def ingest_cost(redis: Redis) -> dict[str, float]:
    """The ingest writer's events/s on batches whose lots cross no history boundary, and on batches
    in which every lot crosses one (a replay at 5 minutes of event time per batch: the worst case)."""
    run = time.time_ns()  # lots of their own on every call
    ids = [f"cost-{run}-{i:04d}" for i in range(COST_LOTS)]
    rates: dict[str, float] = {}
    for name, advance_ms in (("no_boundary", 1_000), ("every_lot_crosses_one", 300_000)):
        lots = [f"{name}-{lot}" for lot in ids]
        layout = Layout.build(dict.fromkeys(lots, COST_CAPACITY), dict.fromkeys(lots, 600))
        writer = StateWriter(redis)
        rng = np.random.default_rng(1)
        ts = (time.time_ns() // 1_000_000 - 30 * 86_400_000) // 300_000 * 300_000 + 1_000
        batches = []
        for _ in range(COST_BATCHES):
            builder = BatchBuilder()
            for lot in lots:
                berths = rng.choice(COST_CAPACITY, COST_EVENTS, replace=False)
                spread = rng.integers(0, 1_000, COST_EVENTS)
                builder.add(Decoded(lot, berths, rank_of(ts + spread, rng.integers(0, 2, COST_EVENTS))))
            batches.append(builder.build(layout))
            ts += advance_ms
        started = time.perf_counter()
        for batch in batches:
            await writer.write(batch)
        rates[name] = round(COST_LOTS * COST_EVENTS * COST_BATCHES / (time.perf_counter() - started))
    return rates


def evaluate(samples: history.Samples) -> dict[str, np.ndarray] | None:
    """One lot's absolute errors per horizon (each of MODELS) and the model's interval hits."""
    at, free = samples.at, samples.free
    split = at[-1] - WEEK_S
    train = at <= split
    weeks_1_4 = history.Samples(at[train], samples.occupied[train], samples.known[train], samples.capacity)
    model, unpooled = forecast.fit(weeks_1_4), forecast.fit(weeks_1_4, pool_days=False)
    if model is None or unpooled is None:
        return None
    slot = forecast.slot_of(at[train])
    total = np.bincount(slot, free[train], minlength=forecast.WEEK_SLOTS)
    count = np.bincount(slot, minlength=forecast.WEEK_SLOTS)
    slot_mean = total / np.maximum(count, 1)
    by_time = dict(zip(at.tolist(), free.tolist(), strict=True))
    horizons = np.array(HORIZONS_MIN, dtype=np.float64)
    rows: dict[str, list[list[float]]] = {name: [] for name in (*MODELS, "inside")}
    for t, now in zip(at[~train].tolist(), free[~train].tolist(), strict=True):
        targets = [t + h * 60 for h in HORIZONS_MIN]
        if not all(x in by_time for x in targets):
            continue
        truth = np.array([by_time[x] for x in targets])
        ahead = model.predict(t, now, horizons)
        rows["model"].append(np.abs(ahead.free - truth).tolist())
        rows["unpooled"].append(np.abs(unpooled.predict(t, now, horizons).free - truth).tolist())
        rows["persistence"].append(np.abs(now - truth).tolist())
        rows["slot_mean"].append(np.abs(slot_mean[forecast.slot_of(np.array(targets))] - truth).tolist())
        rows["inside"].append(((ahead.low <= truth) & (truth <= ahead.high)).astype(float).tolist())
    if not rows["model"]:
        return None
    return {name: np.array(values) for name, values in rows.items()}


async def run(quick: bool) -> dict[str, Any]:
    lots, berths = (4, 1_000) if quick else (12, 3_000)
    result: dict[str, Any] = {
        "quick": quick,
        "lots": lots,
        "berths": berths,
        "weeks": WEEKS,
        "event_days": EVENT_DAYS,
    }
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as tmp:
        workdir = Path(tmp)
        registry = workdir / "city.geojson"
        progress(f"a city of {lots} lots and {berths:,} berths")
        city = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sensors_sim",
            "city",
            "-o",
            str(registry),
            "--lots",
            str(lots),
            "--berths",
            str(berths),
        )
        await city.wait()
        registered = read_registry(registry)
        with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
            redis = Redis.from_url(redis_url)
            await save_lots(redis, registered)
            async with hub_process(redis_url, mqtt_url, workdir) as (base, _):
                progress(f"sensors-sim run: {WEEKS} weeks at full speed, ending now")
                started = time.monotonic()
                sim_s, closing = await simulate(registry, mqtt_url, WEEKS * 7 * 24)
                applied = await settled(base)
                # settled() saw the count still for one poll: the hub finished at most that long before.
                total_s = time.monotonic() - started - SETTLE_POLL_S
                result["replay"] = {
                    "simulator": closing,
                    "simulator_s": round(sim_s, 1),
                    "events_applied": applied,
                    "applied_per_s": round(applied / total_s),
                }
            progress("reading the history the hub kept, and forecasting week 5")
            errors: dict[str, list[np.ndarray]] = {name: [] for name in (*MODELS, "inside")}
            memory = []
            for lot in registered:
                rings = await history.read(redis, lot.id, lot.capacity)
                used = [await redis.memory_usage(redis_keys.history(lot.id, r.name)) for r in history.RINGS]
                memory.append(sum(int(u or 0) for u in used))
                scored = evaluate(rings[history.COARSE])
                if scored is not None:
                    for name, values in scored.items():
                        errors[name].append(values)
            progress("the ingest writer with and without history boundaries")
            result["ingest_events_per_s"] = await ingest_cost(redis)
            await redis.aclose()
    joined = {name: np.concatenate(values) for name, values in errors.items()}
    result["lots_scored"] = len(errors["model"])
    result["forecasts_per_horizon"] = len(joined["model"])
    result["history_bytes_per_lot"] = {"max": max(memory), "mean": round(float(np.mean(memory)))}
    for k, h in enumerate(HORIZONS_MIN):
        mae = {name: round(float(joined[name][:, k].mean()), 2) for name in MODELS}
        best = min(mae["persistence"], mae["slot_mean"])
        result[f"h{h}"] = {
            "mae": mae,
            "vs_best_baseline": round(1 - mae["model"] / best, 3),
            "coverage_80": round(float(joined["inside"][:, k].mean()), 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.forecast", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 4 lots, 1,000 berths")
    args = parser.parse_args()
    print(orjson.dumps(asyncio.run(run(args.quick))).decode())


if __name__ == "__main__":
    main()
