"""The order rule inside Redis: any permutation, duplication, batching and concurrency of an event
log ends in the state of the greatest (ts, occupied) report per berth."""

from __future__ import annotations

import asyncio
import itertools
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.formats import Decoded
from parking_hub.store import redis_keys
from parking_hub.store.apply import Batch, StateWriter
from parking_hub.store.connection import RedisClient
from parking_hub.store.layout import Layout
from tests.integration.hub import redis_client, unique

pytestmark = pytest.mark.integration

CAPACITY = 12
Event = tuple[int, int, int]  # berth, ts, occupied

event_logs = st.lists(
    st.tuples(st.integers(0, CAPACITY - 1), st.integers(1, 40), st.integers(0, 1)), min_size=1, max_size=60
)


def as_batches(events: list[Event], lot: str, cuts: list[int]) -> list[Batch]:
    """The log cut into batches as the ingest path builds them: one Decoded message per event."""
    layout = Layout.build({lot: CAPACITY})
    batches = []
    bounds = [0, *sorted(c % (len(events) + 1) for c in cuts), len(events)]
    for start, stop in itertools.pairwise(bounds):
        if start == stop:
            continue
        builder = BatchBuilder()
        for berth, ts, occ in events[start:stop]:
            builder.add(Decoded(lot, np.array([berth]), np.array([ts * 2 + occ])))
        batches.append(builder.build(layout))
    return batches


async def stored_state(redis: RedisClient, lot: str) -> tuple[list[int], list[int], int]:
    raw = await redis.get(redis_keys.reports(lot)) or b""
    assert isinstance(raw, bytes)
    ranks = np.frombuffer(raw.ljust(CAPACITY * 8, b"\0"), dtype=">i8")[:CAPACITY].tolist()
    bits = [await redis.getbit(redis_keys.occupancy(lot), i) for i in range(CAPACITY)]
    applied = int(await redis.hget(redis_keys.meta(lot), "applied") or 0)
    return ranks, bits, applied


def model(events: list[Event]) -> tuple[list[int], list[int]]:
    best = [0] * CAPACITY
    for berth, ts, occ in events:
        best[berth] = max(best[berth], ts * 2 + occ)
    return best, [rank & 1 for rank in best]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=event_logs, seed=st.integers(0, 2**32), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_any_order_duplication_and_concurrency_end_in_one_state(
    redis_url: str, events: list[Event], seed: int, cuts: list[int]
) -> None:
    rng = random.Random(seed)
    log = events + rng.choices(events, k=rng.randint(0, len(events)))  # replays and duplicates
    rng.shuffle(log)
    half = len(log) // 2

    async def run() -> tuple[list[int], list[int], int]:
        lot = unique("prop")
        redis = redis_client(redis_url)
        try:
            # Two writers (as two hub processes would) apply interleaved halves of the log concurrently.
            writers = [StateWriter(redis), StateWriter(redis)]

            async def apply(writer: StateWriter, part: list[Event]) -> None:
                for batch in as_batches(part, lot, cuts):
                    await writer.write(batch)

            await asyncio.gather(apply(writers[0], log[:half]), apply(writers[1], log[half:]))
            return await stored_state(redis, lot)
        finally:
            await redis.aclose()

    ranks, bits, applied = asyncio.run(run())
    want_ranks, want_bits = model(events)
    assert ranks == want_ranks
    assert bits == want_bits
    assert applied == len(log)  # every valid event went through the rule, whether it won or not


async def test_a_large_batch_for_one_lot_applies_whole(redis_url: str) -> None:
    """25,000 berths of one lot in one batch, written as whole ranges."""
    lot = unique("big")
    n = 25_000
    berths = np.arange(n, dtype=np.int64)
    ranks = (1_764_201_600_000 + berths) * 2 + (berths % 3 == 0)
    builder = BatchBuilder()
    builder.add(Decoded(lot, berths, ranks))
    batch = builder.build(Layout.build({lot: n}))
    redis = redis_client(redis_url)
    try:
        won = await StateWriter(redis).write(batch)
        assert won == n
        raw = await redis.get(redis_keys.reports(lot))
        assert isinstance(raw, bytes)
        assert np.frombuffer(raw, dtype=">i8").tolist() == ranks.tolist()
        assert await redis.bitcount(redis_keys.occupancy(lot)) == int((berths % 3 == 0).sum())
        assert await redis.getbit(redis_keys.occupancy(lot), n - 1) == int((n - 1) % 3 == 0)
        # the same batch again wins nothing and changes nothing
        assert await StateWriter(redis).write(batch) == 0
        assert int(await redis.hget(redis_keys.meta(lot), "applied") or 0) == 2 * n
    finally:
        await redis.aclose()
