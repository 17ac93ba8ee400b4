"""The API's mirror against a real Redis: re-reads after a notice, and the check for lost notices."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex
from parking_hub.registry import Lot
from parking_hub.store import keys
from parking_hub.store.connection import RedisClient
from tests.integration.hub import redis_client, unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = redis_client(redis_url)
    yield client
    await client.aclose()


async def write_reports(redis: RedisClient, lot: str, ranks: list[int], applied: int) -> None:
    """What ingest leaves behind: the report array, a fresh write token and the event counter."""
    await redis.set(keys.reports(lot), np.array(ranks, dtype=">i8").tobytes())
    await redis.hset(keys.meta(lot), mapping={"applied": applied, "token": unique("token")})


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
    await redis.set(keys.reports(b), np.array([now * 2], dtype=">i8").tobytes())
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
