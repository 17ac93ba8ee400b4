"""The API's mirror against a real Redis: re-reads after a notice, and the check for lost notices."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex
from parking_hub.registry import Lot
from parking_hub.store import redis_keys
from parking_hub.store.apply import Batch, StateWriter
from parking_hub.store.connection import RedisClient
from parking_hub.store.gap_log import HOUR_MS
from parking_hub.store.layout import Layout
from tests.integration.hub import redis_client, unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = redis_client(redis_url)
    yield client
    await client.aclose()


async def write_reports(redis: RedisClient, lot: str, ranks: list[int], applied: int) -> None:
    """What ingest leaves behind: the report array, a fresh write token and the event counter."""
    await redis.set(redis_keys.reports(lot), np.array(ranks, dtype=">i8").tobytes())
    await redis.hset(redis_keys.meta(lot), mapping={"applied": applied, "token": unique("token")})


async def test_verify_rereads_only_lots_whose_meta_moved(redis: RedisClient) -> None:
    now = time.time_ns() // 1_000_000
    a, b = unique("va"), unique("vb")
    lots = [Lot(lot_id, lot_id, "op", "off_street", capacity=3, lat=36.0, lon=120.0) for lot_id in (a, b)]
    state = Availability(CityIndex.build(lots))
    await write_reports(redis, a, [now * 2, now * 2], applied=2)
    await write_reports(redis, b, [now * 2 + 1], applied=1)
    await state.refresh(redis, [a, b], now)
    assert state.known_n.tolist() == [2, 1]
    assert state.free_n[()].tolist() == [2, 0]

    # Lot a changes and its notice is lost; lot b's array is touched without its meta hash (as no
    # writer does), which shows that verify trusts the meta hash and reads nothing else.
    await write_reports(redis, a, [now * 2 + 1, now * 2, now * 2], applied=3)
    await redis.set(redis_keys.reports(b), np.array([now * 2], dtype=">i8").tobytes())
    moved = await state.verify(redis, [a, b], now)
    assert [state.index.lots[i].id for i in moved.tolist()] == [a]
    assert (state.free_n[()][0], state.known_n[0]) == (2, 3)
    assert state.free_n[()][1] == 0
    assert state.changed_in[0] == state.version


async def test_verify_sees_a_new_token_with_the_same_counter(redis: RedisClient) -> None:
    """The write token alone shows a rewrite: the check does not rest on the event counter."""
    now = time.time_ns() // 1_000_000
    lot = unique("vt")
    state = Availability(CityIndex.build([Lot(lot, lot, "op", "off_street", capacity=2, lat=0.0, lon=0.0)]))
    await write_reports(redis, lot, [now * 2 + 1, now * 2 + 1], applied=2)
    await state.refresh(redis, [lot], now)
    await write_reports(redis, lot, [now * 2, now * 2], applied=2)
    assert len(await state.verify(redis, [lot], now)) == 1
    assert state.free_n[()][0] == 2


async def test_gaps_reach_the_mirror_and_age_out_while_old_hours_are_dropped(redis: RedisClient) -> None:
    """The ingest's gap writes on a real server: the meta check sees them, the window is counted at
    answer time, and each write drops the hours that have left it."""
    lot = unique("vg")
    state = Availability(CityIndex.build([Lot(lot, lot, "op", "off_street", capacity=2, lat=0.0, lon=0.0)]))
    hour = time.time_ns() // 1_000_000 // HOUR_MS
    # Left by writes of earlier hours: one long out of the window, one still in it.
    await redis.hset(redis_keys.gap_hours(lot), mapping={hour - 30: 5, hour - 2: 1})
    await redis.hset(redis_keys.meta(lot), "gaps", 6)
    await state.refresh(redis, [lot], hour * HOUR_MS)

    empty = np.zeros(0, dtype=np.int64)
    await StateWriter(redis).write(Batch(Layout.build({lot: 2}), empty, empty, {}, gaps={lot: 3}))
    now = time.time_ns() // 1_000_000
    await state.verify(redis, [lot], now)  # no notice read: the gap counter shows the lot moved
    assert state.gaps_24h(0, now) == 4
    assert state.gaps_24h(0, (hour + 23) * HOUR_MS) == 3  # the older gap has aged out
    assert state.gaps_24h(0, (hour + 25) * HOUR_MS) == 0
    assert {int(h) for h in await redis.hkeys(redis_keys.gap_hours(lot))} == {hour - 2, now // HOUR_MS}
    assert await redis.hget(redis_keys.meta(lot), "gaps") == b"9"
    assert 0 < await redis.pttl(redis_keys.gap_hours(lot)) <= 25 * HOUR_MS
