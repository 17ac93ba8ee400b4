"""Writes under the order rule while a Redis setup fails over or reshards, and the check after.

A batch counts as acknowledged when `StateWriter.write` returned, which is when ingest acknowledges
its messages to the broker. Every berth's stored rank must then be at least the greatest rank any
acknowledged batch carried for it: a berth below that lost an acknowledged report.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from parking_hub.arrays import IntArray
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.formats import Decoded
from parking_hub.registry import Lot
from parking_hub.store import redis_keys
from parking_hub.store.apply import Batch, StateWriter
from parking_hub.store.connection import REDIS_ERRORS, RedisClient
from parking_hub.store.layout import Layout
from parking_hub.store.lots import save_lots

LOTS = 60
CAPACITY = 40
LOTS_PER_BATCH = 12
RETRY_S = 0.05


def ha_lots() -> list[Lot]:
    return [
        Lot(f"ha-{i:03d}", f"HA {i}", "op", "off_street", CAPACITY, 120.0 + i * 1e-4, 36.0)
        for i in range(LOTS)
    ]


@dataclass(slots=True)
class Traffic:
    """Batches of reports newer than any before them, and what was acknowledged of them."""

    layout: Layout
    lots: list[Lot]
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))
    acked: IntArray = field(init=False)
    batches: int = 0
    failures: list[str] = field(default_factory=list)  # the errors retried, by type

    def __post_init__(self) -> None:
        self.acked = np.zeros(self.layout.berth_count, dtype=np.int64)

    def next_batch(self) -> Batch:
        builder = BatchBuilder()
        ts = time.time_ns() // 1_000_000
        for i in self.rng.choice(len(self.lots), LOTS_PER_BATCH, replace=False).tolist():
            berths = np.sort(self.rng.choice(CAPACITY, 10, replace=False)).astype(np.int64)
            ranks = (ts + self.rng.integers(0, 50, len(berths))) * 2 + self.rng.integers(0, 2, len(berths))
            builder.add(Decoded(self.lots[i].id, berths, ranks))
        return builder.build(self.layout)

    async def write(self, writer: StateWriter, until: float) -> None:
        """One batch, retried as ingest retries it, until acknowledged (or `until` passes)."""
        batch = self.next_batch()
        while True:
            try:
                await writer.write(batch)
                break
            except REDIS_ERRORS as exc:
                self.failures.append(type(exc).__name__)
                if time.monotonic() > until:
                    raise
                await asyncio.sleep(RETRY_S)
        np.maximum.at(self.acked, batch.index, batch.ranks)
        self.batches += 1

    async def run(self, writer: StateWriter, stop: asyncio.Event, give_up_s: float = 60.0) -> None:
        while not stop.is_set():
            await self.write(writer, time.monotonic() + give_up_s)


async def setup(redis: RedisClient) -> Traffic:
    lots = ha_lots()
    await save_lots(redis, lots)
    return Traffic(Layout.build({lot.id: lot.capacity for lot in lots}), lots)


async def stored_ranks(redis: RedisClient, layout: Layout) -> IntArray:
    stored = np.zeros(layout.berth_count, dtype=np.int64)
    for position, lot in enumerate(layout.ids):
        raw = await redis.get(redis_keys.reports(lot)) or b""
        assert isinstance(raw, bytes)
        span = layout.span(position)
        ranks = np.frombuffer(raw, dtype=">i8")[: span.stop - span.start]
        stored[span.start : span.start + len(ranks)] = ranks
    return stored


async def lost(redis: RedisClient, traffic: Traffic, within_s: float = 30.0) -> int:
    """Berths whose stored report is older than one acknowledged for them; read again while Redis
    does not answer yet (Sentinels still settling on the promoted primary)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            stored = await stored_ranks(redis, traffic.layout)
            return int((stored < traffic.acked).sum())
        except REDIS_ERRORS:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(RETRY_S)
