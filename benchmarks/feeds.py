"""What one answer of the open-data feeds costs the API process: the ParkAPI v3 sites and the DATEX II
v3 table and status, built in process from the mirror an API process holds.

    python -m benchmarks.feeds            # the seed city (706 lots) and a simulated city of 50,000
    python -m benchmarks.feeds --quick    # the seed city only

Each city's registry is parsed and indexed as the hub does; every lot gets a report time so the
status carries every element it can. The berths' states do not change the work (each lot's counts
are read either way). Prints one JSON line: per city and feed, the median milliseconds to build one
answer and its size in bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parking_hub.api.datex import parking_status_xml, parking_table_xml
from parking_hub.api.parkapi import CAPACITY_KINDS, parking_sites_json
from parking_hub.api.publications import LiveCounts
from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex
from parking_hub.query.live import now_ms
from parking_hub.registry import parse_registry

SEED_CITY = Path(__file__).parents[1] / "seeds" / "qingdao.geojson"
BIG_LOTS, BIG_BERTHS = 50_000, 2_000_000
ROUNDS = 5


def say(message: str) -> None:
    print(f"[benchmarks.feeds] {message}", file=sys.stderr, flush=True)


def mirror(registry: bytes) -> Availability:
    state = Availability(CityIndex.build(parse_registry(registry)))
    state.updated_ms[:] = now_ms()
    return state


def timed(build: Callable[[], bytes]) -> dict[str, Any]:
    took, size = [], 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        size = len(build())
        took.append(time.perf_counter() - start)
    return {"ms": round(statistics.median(took) * 1000, 1), "bytes": size}


def measure(state: Availability) -> dict[str, Any]:
    stamp = "2026-12-06T08:00:00.000Z"
    return {
        "lots": len(state.index.lots),
        "parkapi": timed(
            lambda: parking_sites_json(state.index.lots, LiveCounts.of(state, tuple(CAPACITY_KINDS)), stamp)
        ),
        "datex_table": timed(lambda: parking_table_xml(state.index.lots, "1", stamp, stamp)),
        "datex_status": timed(lambda: parking_status_xml(state.index.lots, LiveCounts.of(state), "1", stamp)),
    }


def simulated_city(lots: int, berths: int) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "city.geojson"
        command = ["city", "--lots", str(lots), "--berths", str(berths), "-o", str(path)]
        subprocess.run([sys.executable, "-m", "sensors_sim", *command], check=True, capture_output=True)
        return path.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the seed city only")
    args = parser.parse_args()
    result: dict[str, Any] = {"rounds": ROUNDS}
    say(f"seed city: {SEED_CITY.name}")
    result["seed_city"] = measure(mirror(SEED_CITY.read_bytes()))
    if not args.quick:
        say(f"a simulated city of {BIG_LOTS:,} lots and {BIG_BERTHS:,} berths")
        result["big_city"] = measure(mirror(simulated_city(BIG_LOTS, BIG_BERTHS)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
