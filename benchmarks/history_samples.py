"""History sampling at a boundary of event time: what a batch that carries every lot past a
5-minute boundary costs ingest, against the same batch one boundary earlier that carries none past.

    python -m benchmarks.history_samples [--lots 50000] [--capacity 200]

A private redis-server and the ingest writer (`StateWriter`). Each lot gets two reports a batch;
a first batch sets every lot's clock, then pairs of batches follow: one within the same 5 minutes
of event time (the baseline: the write alone), one just past the next boundary (the write and a
history sample for every lot). Times are the process's CPU for `StateWriter.write`, the best of
`--rounds` pairs, so the difference is what the samples cost ingest. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from redis.asyncio import Redis

from parking_hub.embedded import redis_server
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.formats import Decoded
from parking_hub.store import history
from parking_hub.store.apply import Batch, StateWriter
from parking_hub.store.layout import Layout

STEP_MS = history.SAMPLE_S * 1000


def two_reports_each(layout: Layout, ts_ms: int, rng: np.random.Generator) -> Batch:
    builder = BatchBuilder()
    for lot, capacity in zip(layout.ids, layout.capacity.tolist(), strict=True):
        berths = rng.choice(capacity, size=min(2, capacity), replace=False)
        builder.add(Decoded(lot, berths, ts_ms * 2 + rng.integers(0, 2, size=len(berths))))
    return builder.build(layout)


async def cpu_ms(writer: StateWriter, batch: Batch) -> float:
    start = time.process_time()
    await writer.write(batch)
    return (time.process_time() - start) * 1000


async def measure(redis_url: str, lots: int, capacity: int, rounds: int) -> dict[str, Any]:
    ids = [f"hs-{i:06d}" for i in range(lots)]
    layout = Layout.build(dict.fromkeys(ids, capacity), dict.fromkeys(ids, 600))
    rng = np.random.default_rng(3)
    redis = Redis.from_url(redis_url)
    try:
        writer = StateWriter(redis)
        boundary = (time.time_ns() // 1_000_000 - 24 * 3600_000) // STEP_MS * STEP_MS
        await writer.write(two_reports_each(layout, boundary - 60_000, rng))  # every lot's clock set
        within, past = [], []
        for k in range(rounds):
            mark = boundary + k * STEP_MS
            within.append(await cpu_ms(writer, two_reports_each(layout, mark - 30_000, rng)))
            past.append(await cpu_ms(writer, two_reports_each(layout, mark + 10_000, rng)))
            print(f"[benchmarks.history_samples] round {k + 1}/{rounds}", file=sys.stderr, flush=True)
    finally:
        await redis.aclose()
    sampling_ms = min(past) - min(within)
    return {
        "lots": lots,
        "capacity": capacity,
        "write_within_a_boundary_ms": round(min(within), 1),
        "write_past_a_boundary_ms": round(min(past), 1),
        "sampling_ms": round(sampling_ms, 1),
        "sampling_us_per_lot": round(sampling_ms * 1000 / lots, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.history_samples", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--lots", type=int, default=50_000)
    parser.add_argument("--capacity", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp, redis_server(Path(tmp)) as redis_url:
        result = asyncio.run(measure(redis_url, args.lots, args.capacity, args.rounds))
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
