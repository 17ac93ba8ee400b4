"""Does the hub's final state equal the delivered truth?

The truth (sensors_sim's, reduced by the order rule) holds, per berth, the greatest report among
the messages the broker acknowledged. Against it:

- lost: berths whose winning delivered report is not in Redis (the report array holds less);
- unexpected: berths whose Redis report is greater than anything delivered (never acknowledged);
- stale: lot counts the HTTP API answers that disagree with the truth (`sensors-sim verify`'s
  comparison), once Redis holds everything;
- duplicated: events the hub counted as applied beyond those delivered, i.e. redeliveries after a
  kill or a broker restart. The order rule makes them harmless; they are counted, not failed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from parking_hub.store import redis_keys
from parking_hub.store.connection import RedisClient
from sensors_sim.hubapi import Hub
from sensors_sim.registry import Registry
from sensors_sim.truth import Truth
from sensors_sim.verify import verify
from tests.integration.hub import redis_client

POLL_S = 0.5
STALENESS_MARGIN_MS = 5_000


@dataclass(frozen=True, slots=True)
class Verdict:
    delivered: int  # valid reports in acknowledged messages
    applied: int  # the hub's applied-event counters, summed over the lots
    lost: int
    unexpected: int
    duplicated: int
    stale: int
    differences: list[str]  # the first of the stale lots' differences, for the failure message

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.unexpected == 0 and self.stale == 0


async def stored_ranks(redis: RedisClient, registry: Registry) -> tuple[np.ndarray, int]:
    """Every berth's report rank as Redis holds it, in the registry's berth order; and `applied`."""
    ranks = np.zeros(registry.berths, dtype=np.int64)
    applied = 0
    async with redis.pipeline(transaction=False) as pipe:
        for lot_id in registry.lot_ids:
            pipe.get(redis_keys.reports(lot_id))
            pipe.hget(redis_keys.meta(lot_id), "applied")
        replies = await pipe.execute()
    for lot in range(len(registry.lot_ids)):
        raw, count = replies[2 * lot], replies[2 * lot + 1]
        start, capacity = int(registry.offsets[lot]), int(registry.capacity[lot])
        stored = np.frombuffer(raw or b"", dtype=">i8")[:capacity]
        ranks[start : start + len(stored)] = stored
        applied += int(count or 0)
    return ranks, applied


async def check(redis_url: str, hub_url: str, registry: Registry, truth: Truth, wait_s: float) -> Verdict:
    """Polls until Redis holds every delivered report (or `wait_s` passes), then compares."""
    redis = redis_client(redis_url)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            ranks, applied = await stored_ranks(redis, registry)
            lost = int((ranks < truth.rank).sum())
            if (lost == 0 and applied >= truth.delivered) or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL_S)
    finally:
        await redis.aclose()
    async with Hub(hub_url) as hub:
        left = max(0.0, deadline - time.monotonic())
        differences = await verify(hub, registry, truth, left, STALENESS_MARGIN_MS)
    return Verdict(
        delivered=truth.delivered,
        applied=applied,
        lost=lost,
        unexpected=int((ranks > truth.rank).sum()),
        duplicated=applied - truth.delivered,
        stale=len(differences),
        differences=differences[:10],
    )
