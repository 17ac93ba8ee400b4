"""GET /v1/nearest under load, against a trivial aiohttp handler and PostGIS, on one machine.

    python -m benchmarks.query            # 50,000 lots, 10,000,000 berths: a few minutes
    python -m benchmarks.query --quick    # smoke run: 2,000 lots, 200,000 berths, 2 s per load run
    python -m benchmarks.query --in-process   # only the query functions, timed in this process

Builds a city with the simulator, loads it into a private redis-server, writes every berth's state
straight into Redis (the report arrays and occupancy bitmaps ingest would write), starts
`parking-hub serve --role api` as a subprocess, waits until it has built its forecasts (its
start-up pass), and drives /v1/nearest at random points near the
city's lots with wrk, in one process and as `--workers 2`. The same wrk settings then drive a
trivial aiohttp handler, and pgbench drives PostGIS with the same lots and points from as many
clients as wrk has connections. The query functions are also timed in this process, plain and
with the filters of a 2.3 m van arriving in 25 minutes that pays at most 10 an hour, and that
van asking for room at arrival by the lots' forecasts (`eta_s`; every lot modelled). Prints
progress on stderr and one JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from redis.asyncio import Redis

from benchmarks.http_load import WrkResult, run_wrk, write_script
from benchmarks.postgis import nearest_qps
from benchmarks.tools import find, missing
from parking_hub.embedded import free_port, redis_server, stop
from parking_hub.query import forecast
from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex
from parking_hub.query.live import now_ms
from parking_hub.query.nearest import NearestQuery, nearest_berths, nearest_lots
from parking_hub.query.outlook import CityOutlook
from parking_hub.rank import rank_of
from parking_hub.store import history, redis_keys
from parking_hub.store.lots import load_lots

FULL = {"lots": 50_000, "berths": 10_000_000, "seconds": 10}
QUICK = {"lots": 2_000, "berths": 200_000, "seconds": 2}
POINTS = 10_000  # random places near lots, shared by wrk, pgbench and the in-process timing
COMPUTE_QUERIES = 20_000
LIMIT, RADIUS_M = 5, 2000.0  # the API defaults
CONNECTIONS = 32  # wrk's, and pgbench's clients for PostGIS: the same concurrency
WORKERS = (1, 2)  # `serve --role api --workers N`, lot level on asyncio
PROBES = 16  # readiness probes in a row: P(a worker of 2 missed) = 2 ** -16
SEED = 11
UVLOOP_RUN = (
    "import asyncio, sys, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
    "from parking_hub.cli import main; main(sys.argv[1:])"
)

LotRow = tuple[str, float, float, int]  # id, lon, lat, free berths


def say(message: str) -> None:
    print(f"[benchmarks.query] {message}", file=sys.stderr, flush=True)


def write_city(path: Path, lots: int, berths: int, redis_url: str) -> None:
    """The simulator's city, loaded the way an operator loads a registry."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sensors_sim",
            "city",
            "--lots",
            str(lots),
            "--berths",
            str(berths),
            "-o",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [sys.executable, "-m", "parking_hub", "lots", "load", "--redis-url", redis_url, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"lots load failed: {done.stderr}")


async def fill_state(redis_url: str, features: list[dict[str, Any]]) -> list[LotRow]:
    """Every berth's winning report and occupancy, as ingest would leave them: per lot an occupancy
    rate drawn from a Beta distribution (some lots full), 3% of berths never heard from, the rest
    reported within the last 30 minutes (fresh for every heartbeat the simulator uses)."""
    rng = np.random.default_rng(SEED)
    now = now_ms()
    rows: list[LotRow] = []
    redis = Redis.from_url(redis_url)
    try:
        pipe = redis.pipeline(transaction=False)
        for k, feature in enumerate(features):
            props = feature["properties"]
            capacity = props["capacity"]
            occupied = rng.random(capacity) < rng.beta(5, 2)
            reported = rng.random(capacity) >= 0.03
            ts = now - rng.integers(0, 30 * 60_000, capacity)
            ranks = np.where(reported, rank_of(ts, occupied), 0)
            pipe.set(redis_keys.reports(props["id"]), ranks.astype(">i8").tobytes())
            pipe.set(redis_keys.occupancy(props["id"]), np.packbits(occupied & reported).tobytes())
            lon, lat = feature["geometry"]["coordinates"]
            rows.append((props["id"], lon, lat, int((reported & ~occupied).sum())))
            if k % 500 == 499:
                await pipe.execute()
        await pipe.execute()
        await redis.publish(redis_keys.CHANGES_CHANNEL, " ".join(r[0] for r in rows))
    finally:
        await redis.aclose()
    return rows


def random_points(rows: Sequence[LotRow], count: int) -> list[tuple[float, float]]:
    """Places where drivers ask: near some lot, up to about 500 m away from it."""
    rng = np.random.default_rng(SEED + 1)
    picks = rng.integers(0, len(rows), count)
    jitter = rng.uniform(-0.0045, 0.0045, (count, 2))
    return [
        (rows[i][2] + dy, rows[i][1] + dx)
        for i, (dy, dx) in zip(picks.tolist(), jitter.tolist(), strict=True)
    ]


async def loaded_mirror(redis: Redis) -> Availability:
    """The mirror an API process builds from Redis, registry and every lot's state."""
    lots = await load_lots(redis)
    state = Availability(CityIndex.build(lots))
    await state.refresh(redis, [lot.id for lot in lots], now_ms())
    gc.collect()
    gc.freeze()  # as the hub does once it has loaded the registry (registry_view.py)
    return state


async def compute_times(redis_url: str, points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """The query functions themselves, timed one call at a time on the mirror the hub would build."""
    redis = Redis.from_url(redis_url)
    try:
        state = await loaded_mirror(redis)
    finally:
        await redis.aclose()
    result: dict[str, Any] = {}
    # The driver of docs/api-guide.md: a 2.3 m van, arriving in 25 minutes, at most 10 an hour.
    arrival_ms = now_ms() + 25 * 60_000
    van = {"height_m": 2.3, "max_per_hour": 10.0, "arrival_ms": arrival_ms}
    searches: dict[str, tuple[Callable[[Availability, NearestQuery], object], dict[str, Any]]] = {
        "lot": (nearest_lots, {}),
        "berth": (nearest_berths, {}),
        "lot_filtered": (nearest_lots, van),
        "lot_arrival": (nearest_lots, van | {"forecast_ms": arrival_ms}),
    }
    state.outlook = city_outlook(state)
    for level, (search, filters) in searches.items():
        took = np.empty(COMPUTE_QUERIES)
        for k in range(COMPUTE_QUERIES):
            lat, lon = points[k % len(points)]
            query = NearestQuery(lat, lon, limit=LIMIT, radius_m=RADIUS_M, **filters)
            start = time.perf_counter_ns()
            search(state, query)
            took[k] = time.perf_counter_ns() - start
        result[level] = {
            "p50_ms": round(float(np.percentile(took, 50)) / 1e6, 4),
            "p99_ms": round(float(np.percentile(took, 99)) / 1e6, 4),
            "max_ms": round(float(took.max()) / 1e6, 4),
        }
    return result


def city_outlook(state: Availability) -> CityOutlook:
    """Every lot modelled, as after weeks of history: one model fitted on three simulated weeks of a
    daily pattern serves every lot, since what a query costs does not depend on the curves' values."""
    at = np.arange(now_ms() // 1000 - 21 * 86_400, now_ms() // 1000, forecast.STEP_S, dtype=np.int64)
    busy = np.sin(2 * np.pi * at / 86_400) * 40 + 50 + np.random.default_rng(1).normal(0, 5, len(at))
    model = forecast.fit(history.Samples(at, busy, np.full(len(at), 100.0), 100))
    start = time.perf_counter()
    outlook = CityOutlook.build([model] * len(state.index.lots), state.index.layout.capacity, time.time())
    say(f"outlook of {len(state.index.lots):,} lots built in {time.perf_counter() - start:.2f} s")
    return outlook


def wait_until(probe: Callable[[], bool], what: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - a loopback URL built here
        return json.loads(resp.read())


def serves_city(base: str, lots: int) -> bool:
    """Every worker has the city and has built its forecasts (the start-up pass that fits every lot's
    model, which would otherwise run during the load): each probe is a connection of its own, which
    any worker may take."""
    return all(
        get_json(f"{base}/v1/summary")["lots"] == lots and forecasts_ready(base) for _ in range(PROBES)
    )


def forecasts_ready(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:  # noqa: S310 - a loopback URL
        return b"\nparking_hub_forecast_ready 1.0\n" in resp.read()


@contextmanager
def process(args: list[str], log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        stop(proc, timeout=30)


def load_run(wrk: str, url: str, seconds: int, script: Path | None) -> WrkResult:
    run_wrk(wrk, url, seconds=1, connections=CONNECTIONS, script=script)  # warm-up
    result = run_wrk(wrk, url, seconds=seconds, connections=CONNECTIONS, script=script)
    if result.errors:
        raise RuntimeError(f"{url}: {result.errors} failed requests of {result.requests}")
    return result


def hub_runs(workdir: Path, redis_url: str, lots: int, seconds: int, loops: Sequence[str]) -> dict[str, Any]:
    wrk = find("wrk") or "wrk"
    results: dict[str, Any] = {}
    for loop in loops:
        runner = (
            [sys.executable, "-m", "parking_hub"] if loop == "asyncio" else [sys.executable, "-c", UVLOOP_RUN]
        )
        for workers in WORKERS if loop == "asyncio" else (1,):
            port = free_port()
            serve = ["serve", "--role", "api", "--redis-url", redis_url, "--http", f"127.0.0.1:{port}"]
            serve += ["--workers", str(workers)]
            base = f"http://127.0.0.1:{port}"
            with process([*runner, *serve], workdir / f"hub-{loop}-{workers}.log"):
                wait_until(functools.partial(serves_city, base, lots), f"the hub ({loop}) to load the city")
                for level in ("lot", "berth") if workers == 1 else ("lot",):
                    script = workdir / f"{level}.lua"
                    say(f"wrk /v1/nearest level={level} on the hub ({loop}, {workers} worker(s))")
                    name = f"hub_{loop}_{level}" + (f"_workers{workers}" if workers > 1 else "")
                    results[name] = asdict(load_run(wrk, base, seconds, script))
        port = free_port()
        trivial = [sys.executable, "-m", "benchmarks.trivial_server", str(port)]
        with process(
            [*trivial, *(["--uvloop"] if loop == "uvloop" else [])], workdir / f"trivial-{loop}.log"
        ):
            wait_until(functools.partial(get_json, f"http://127.0.0.1:{port}/"), "the trivial server")
            say(f"wrk on the trivial handler ({loop})")
            results[f"trivial_{loop}"] = asdict(load_run(wrk, f"http://127.0.0.1:{port}/", seconds, None))
    return results


def nearest_paths(points: Sequence[tuple[float, float]], level: str) -> list[str]:
    return [
        f"/v1/nearest?lat={lat:.6f}&lon={lon:.6f}&limit={LIMIT}&radius_m={RADIUS_M:.0f}&level={level}"
        for lat, lon in points
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.query", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on a small city")
    parser.add_argument("--no-uvloop", action="store_true", help="measure the asyncio loop only")
    parser.add_argument(
        "--in-process", action="store_true", help="time the query functions only: no HTTP, no PostGIS"
    )
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    if args.in_process:
        needs = missing(["redis-server"], postgis=False)
    else:
        needs = missing(["redis-server", "wrk", "initdb", "pg_ctl", "pgbench", "psql"], postgis=True)
    if needs:
        print("benchmarks.query needs, as root:\n  " + "\n  ".join(needs), file=sys.stderr)
        sys.exit(2)
    loops = ["asyncio"]
    if not args.no_uvloop:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            say("uvloop is not installed (pip install uvloop); measuring the asyncio loop only")
        else:
            loops.append("uvloop")

    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url:
            say(f"city of {size['lots']:,} lots and {size['berths']:,} berths into a private Redis")
            city = workdir / "city.geojson"
            write_city(city, size["lots"], size["berths"], redis_url)
            rows = asyncio.run(fill_state(redis_url, orjson.loads(city.read_bytes())["features"]))
            points = random_points(rows, POINTS)
            for level in ("lot", "berth"):
                write_script(workdir / f"{level}.lua", nearest_paths(points, level))
            say("timing the query functions in this process")
            compute = asyncio.run(compute_times(redis_url, points))
            if args.in_process:
                print(json.dumps({"lots": size["lots"], "berths": size["berths"], "compute": compute}))
                return
            runs = hub_runs(workdir, redis_url, size["lots"], size["seconds"], loops)
        say(f"PostGIS baseline (private cluster, pgbench, {CONNECTIONS} clients)")
        seconds = size["seconds"]
        postgis = nearest_qps(
            workdir, rows, points, limit=LIMIT, radius_m=RADIUS_M, seconds=seconds, clients=CONNECTIONS
        )

    hub, trivial = runs["hub_asyncio_lot"], runs["trivial_asyncio"]
    report = {
        "lots": size["lots"],
        "berths": size["berths"],
        "query": {"limit": LIMIT, "radius_m": RADIUS_M, "wrk": f"-t1 -c{CONNECTIONS} -d{size['seconds']}s"},
        "nearest_rps": round(hub["requests_per_s"]),
        "nearest_p50_ms": hub["p50_ms"],
        "nearest_p99_ms": hub["p99_ms"],
        "trivial_rps": round(trivial["requests_per_s"]),
        "ratio_to_trivial": round(hub["requests_per_s"] / trivial["requests_per_s"], 3),
        "postgis_qps": round(postgis),
        "postgis_clients": CONNECTIONS,
        "ratio_to_postgis": round(hub["requests_per_s"] / postgis, 2),
        "workers_rps": {
            n: round(runs[f"hub_asyncio_lot{'_workers' + str(n) if n > 1 else ''}"]["requests_per_s"])
            for n in WORKERS
        },
        "berth_compute_p99_ms": compute["berth"]["p99_ms"],
        "filtered_compute_p99_ms": compute["lot_filtered"]["p99_ms"],
        "compute": compute,
        "runs": runs,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
