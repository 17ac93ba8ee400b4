"""Free berths at arrival (contract 7.2, `eta_s`): lots qualify on their forecast, built from history
replayed through MQTT, and each result says what is expected then."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from parking_hub.api.schemas import NearestAnswer
from parking_hub.query.arrival import keep_outlook
from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex
from parking_hub.registry import parse_registry
from parking_hub.store import history
from parking_hub.store.connection import RedisClient
from tests.integration.hub import (
    Hub,
    eventually,
    lot_feature,
    redis_client,
    running_hub,
    store_registry,
    unique,
    write_registry,
)
from tests.integration.test_history import DAY_MS, HOUR_MS, MIN_MS, frame
from tests.integration.test_skeleton import publish, wait_applied
from tests.registry_check import registry_bytes

pytestmark = pytest.mark.integration

LON, LAT = 120.40, 36.08
BUSY_FROM_MS, BUSY_TO_MS = 45 * MIN_MS, 4 * HOUR_MS  # after the last sample, by time of day
ETA_S = 90 * 60  # inside that window


@dataclass(frozen=True)
class Town:
    hub: Hub
    fills: str  # free now; every day full from 45 minutes from now for a few hours
    empties: str  # full now; every day empty in that window
    fresh: str  # first heard of just now: 2 free berths, no history
    redis_url: str
    features: list[dict[str, Any]]

    async def results(self, **params: Any) -> dict[str, dict[str, Any]]:
        status, body = await self.hub.get("/v1/nearest", lat=LAT, lon=LON, radius_m=1000, limit=20, **params)
        assert status == 200, body
        NearestAnswer.model_validate(body)
        return {r["lot_id"]: r for r in body["results"]}


@pytest.fixture(scope="module")
async def town(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Town]:
    redis_url, mqtt_url = servers
    fills, empties, fresh = unique("af"), unique("ae"), unique("an")
    features = [
        lot_feature(fills, LON, LAT, 4, heartbeat_s=600),
        lot_feature(empties, LON + 0.001, LAT, 4, heartbeat_s=600),
        lot_feature(fresh, LON + 0.002, LAT, 4, heartbeat_s=600),
    ]
    path = write_registry(tmp_path_factory.mktemp("arrival") / "city.geojson", features)
    await store_registry(redis_url, path)
    async with running_hub(redis_url, mqtt_url) as hub:
        topic = f"{hub.prefix}/v1/lots/{{}}/events"
        now = time.time_ns() // 1_000_000
        step = 15 * MIN_MS
        last = now // step * step

        def busy(at_ms: int) -> bool:
            return BUSY_FROM_MS <= (at_ms - now) % DAY_MS < BUSY_TO_MS

        times = range(last - 16 * DAY_MS, last + 1, step)
        replay = [(topic.format(fills), frame(t, [int(busy(t))] * 4)) for t in times]
        replay += [(topic.format(empties), frame(t, [int(not busy(t))] * 4)) for t in times]
        replay.append((topic.format(fresh), frame(now, [0, 0, 1, 1])))
        await publish(mqtt_url, replay)
        for lot in (fills, empties):
            await wait_applied(hub, lot, 4 * len(times))
        # The registry stored again is reloaded: a new mirror, whose outlook is fitted afresh.
        await store_registry(redis_url, path)
        yield Town(hub, fills, empties, fresh, redis_url, features)


async def test_with_eta_s_a_lot_qualifies_on_its_forecast_not_on_free_now(town: Town) -> None:
    now = await town.results()
    assert town.fills in now
    assert town.empties not in now
    assert not {"forecast_free", "p_free"} & now[town.fills].keys()

    def fitted(found: dict[str, dict[str, Any]]) -> bool:
        return town.empties in found

    later = await eventually(lambda: town.results(eta_s=ETA_S), fitted, within=30)
    assert town.fills not in later  # free now, full by the time the driver arrives
    empties = later[town.empties]
    assert empties["free"] == 0
    assert empties["forecast_free"] == 4.0
    assert 0.5 < empties["p_free"] <= 1


async def test_p_free_is_a_probability_that_falls_with_min_free(town: Town) -> None:
    await eventually(lambda: town.results(eta_s=ETA_S), lambda found: town.empties in found, within=30)
    chances = []
    for min_free in (1, 4, 5):
        found = await town.results(eta_s=ETA_S, min_free=min_free, include_closed="true")
        rows = list(found.values())
        assert all(0 <= r["p_free"] <= 1 for r in rows)
        chances.append(found[town.empties]["p_free"] if town.empties in found else 0.0)
    assert chances[0] >= chances[1] > chances[2] == 0.0  # 5 free of 4 berths never happens


async def test_at_eta_0_the_forecast_is_the_present(town: Town) -> None:
    found = await town.results(eta_s=0)
    assert town.fills in found
    assert town.empties not in found
    assert found[town.fills]["forecast_free"] == found[town.fills]["free"] == 4


async def test_a_lot_without_history_is_expected_as_it_is_now(town: Town) -> None:
    await eventually(lambda: town.results(eta_s=ETA_S), lambda found: town.empties in found, within=30)
    found = await town.results(eta_s=ETA_S, min_free=2)
    assert (found[town.fresh]["free"], found[town.fresh]["forecast_free"], found[town.fresh]["p_free"]) == (
        2,
        2,
        1,
    )
    assert town.fresh not in await town.results(eta_s=ETA_S, min_free=3)


async def test_a_reloaded_registry_reads_each_lot_s_own_forecast(
    town: Town, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A lot sorted first moves every other lot's position: the outlook is built again for them."""
    await eventually(lambda: town.results(eta_s=ETA_S), lambda found: town.empties in found, within=30)
    first = lot_feature("0" + unique("a"), LON - 0.05, LAT, 4)
    path = write_registry(tmp_path_factory.mktemp("arrival") / "city.geojson", [first, *town.features])
    await store_registry(town.redis_url, path)

    def rebuilt(found: dict[str, dict[str, Any]]) -> bool:
        return town.empties in found and town.fills not in found

    found = await eventually(lambda: town.results(eta_s=ETA_S), rebuilt, within=30)
    assert found[town.empties]["forecast_free"] == 4.0
    assert town.fills not in found
    assert first["properties"]["id"] not in found  # beyond the radius


async def test_the_outlook_is_built_after_one_round_then_the_fits_are_paced(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read of each lot's history, then none until the paced round asks again; a new mirror
    gets its own outlook and the old one is left alone."""
    reads: list[str] = []
    real_read = history.read_ring

    async def counted(
        redis: RedisClient, lots: Sequence[tuple[str, int]], ring: history.Ring
    ) -> list[history.Samples]:
        reads.extend(lot for lot, _ in lots)
        return await real_read(redis, lots, ring)

    monkeypatch.setattr(history, "read_ring", counted)
    lots = parse_registry(registry_bytes([lot_feature(unique("ak"), LON, LAT, 4) for _ in range(3)]))
    old, new = Availability(CityIndex.build(lots)), Availability(CityIndex.build(lots[:2]))
    mirror = [old]
    redis = redis_client(redis_url)
    try:
        keeper = asyncio.create_task(keep_outlook(redis, lambda: mirror[0]))
        await eventually(lambda: asyncio.sleep(0.05), lambda _: old.outlook is not None)
        await asyncio.sleep(1.5)
        ours = sorted(lot.id for lot in lots)
        assert sorted(r for r in reads if r in ours) == ours  # a hub of this module's may read too
        mirror[0] = new
        await eventually(lambda: asyncio.sleep(0.05), lambda _: new.outlook is not None)
        assert new.outlook is not None
        assert len(new.outlook.capacity) == 2
        assert old.outlook is not None
        assert len(old.outlook.capacity) == 3
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    finally:
        await redis.aclose()
