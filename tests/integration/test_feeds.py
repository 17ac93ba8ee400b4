"""The publication feeds as their readers check them: ParkAPI v3 sites against ParkAPI's own JSON
Schema, carrying the same live counts as /v1 and the lots' facts, over a real hub fed through MQTT
that serves the seed city and lots of the test's own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from parking_hub.registry import Lot, parse_registry
from parking_hub.store.lots import remove_lots
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
from tests.integration.test_skeleton import publish, wait_applied

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[1] / "data"
PARKAPI_SCHEMA = DATA / "parkapi" / "parking-site.json"
SEED_CITY = Path(__file__).parents[2] / "seeds" / "qingdao.geojson"
GARAGE_FACTS = {
    "timezone": "Asia/Shanghai",
    "opening_hours": "Mo-Fr 07:00-22:00; Sa,Su 08:00-20:00",
    "max_height_m": 2.1,
    "max_stay_min": 120,
    "access": "customers",
    "fee": {"currency": "CNY", "per_hour": 6.0, "text": "6 CNY an hour"},
    "address": "1 Example Road",
    "url": "https://parking.example.org/garage",
}


@pytest.fixture(scope="module")
def seed_lots() -> list[Lot]:
    return parse_registry(SEED_CITY.read_bytes())


@pytest.fixture(scope="module")
async def city(
    servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory, seed_lots: list[Lot]
) -> AsyncIterator[tuple[Hub, dict[str, str]]]:
    """The seed city and two lots of this module's own, the garage with every fact; the seed city's
    lots leave Redis again when the module is done."""
    redis_url, mqtt_url = servers
    tag = unique("f")
    ids = {"garage": f"{tag}-a", "kerb": f"{tag}-b", "gated": f"{tag}-c"}
    garage_berths = {"ev": [0, 1], "accessible": [3], "truck": [2]}
    features = [
        lot_feature(ids["garage"], 120.3826, 36.0671, 4, features=garage_berths, **GARAGE_FACTS),
        lot_feature(ids["kerb"], 120.38291234567, -36.0674, 2, kind="on_street"),
        lot_feature(ids["gated"], 120.39, 36.07, 2),
    ]
    path = write_registry(tmp_path_factory.mktemp("feeds") / "city.geojson", features)
    await store_registry(redis_url, SEED_CITY)
    await store_registry(redis_url, path)
    try:
        async with running_hub(redis_url, mqtt_url) as hub:
            t = time.time_ns() // 1_000_000 - 1000
            frames = {
                ids["garage"]: {"berth": [0, 1, 2], "occupied": [1, 0, 0], "ts": [t] * 3},
                ids["kerb"]: {"berth": [0], "occupied": [0], "ts": [t]},
            }
            prefix = f"{hub.prefix}/v1/lots"
            await publish(mqtt_url, [(f"{prefix}/{lot}/events", f) for lot, f in frames.items()])
            for lot, frame in frames.items():
                await wait_applied(hub, lot, len(frame["berth"]))
            # The third lot's gateway goes offline: its berths are unknown, the lot is not online.
            status = f"{prefix}/{ids['gated']}/status"
            await publish(mqtt_url, [(status, {"online": False, "ts": t + 1})])
            await eventually(lambda: hub.get(f"/v1/lots/{ids['gated']}"), lambda r: not r[1]["online"])
            yield hub, ids
    finally:
        redis = redis_client(redis_url)
        try:
            await remove_lots(redis, [lot.id for lot in seed_lots])
        finally:
            await redis.aclose()


async def test_parkapi_sites_are_valid_and_carry_the_counts_of_v1_lots(
    city: tuple[Hub, dict[str, str]],
) -> None:
    hub, ids = city
    validator = Draft202012Validator(
        orjson.loads(PARKAPI_SCHEMA.read_bytes()), format_checker=FormatChecker()
    )
    status, body = await hub.get("/parkapi/v3/parking-sites")
    assert status == 200, body
    _, summary = await hub.get("/v1/summary")
    assert body["total_count"] == len(body["items"]) == summary["lots"]
    for item in body["items"]:
        validator.validate(item)
    sites: dict[str, Any] = {item["original_uid"]: item for item in body["items"]}
    garage, kerb = sites[ids["garage"]], sites[ids["kerb"]]
    for site, name in ((garage, "garage"), (kerb, "kerb")):
        _, lot = await hub.get(f"/v1/lots/{ids[name]}")
        assert site["realtime_free_capacity"] == lot["free"]
        assert site["capacity"] == site["realtime_capacity"] == lot["capacity"]
        assert site["realtime_data_updated_at"] == lot["updated_at"]
        assert site["name"] == lot["name"]
        assert (float(site["lat"]), float(site["lon"])) == pytest.approx((lot["lat"], lot["lon"]), abs=1e-7)
    assert (garage["type"], kerb["type"]) == ("OFF_STREET_PARKING_GROUND", "ON_STREET")
    assert kerb["lon"] == "120.3829123"  # seven fraction digits, as the schema's pattern allows
    assert kerb["lat"] == "-36.0674000"
    # ev berths 0 and 1: one occupied, one free; accessible berth 3: never reported, so not free.
    assert (garage["capacity_charging"], garage["realtime_free_capacity_charging"]) == (2, 1)
    assert (garage["capacity_disabled"], garage["realtime_free_capacity_disabled"]) == (1, 0)
    assert "capacity_charging" not in kerb
    assert not validator.is_valid(garage | {"lat": "36.06710001"})  # the check is not vacuous
    # truck berth 2: reported free; berths of a vehicle class are counted under ParkAPI's class.
    assert (garage["capacity_truck"], garage["realtime_free_capacity_truck"]) == (1, 1)


async def test_parkapi_sites_carry_the_lot_facts(
    city: tuple[Hub, dict[str, str]], seed_lots: list[Lot]
) -> None:
    hub, ids = city
    _, body = await hub.get("/parkapi/v3/parking-sites")
    sites: dict[str, Any] = {item["original_uid"]: item for item in body["items"]}
    garage, kerb = sites[ids["garage"]], sites[ids["kerb"]]
    assert garage["opening_hours"] == GARAGE_FACTS["opening_hours"]
    assert garage["max_stay"] == 120 * 60  # seconds
    assert (garage["address"], garage["public_url"]) == (GARAGE_FACTS["address"], GARAGE_FACTS["url"])
    assert (garage["has_fee"], garage["fee_description"]) == (True, "6 CNY an hour")
    # A lot the registry gives no hours is always open (contract 7.1); no fee given is unknown.
    assert kerb["opening_hours"] == "24/7"
    assert not {"max_stay", "address", "public_url", "has_fee"} & set(kerb)
    for lot in seed_lots:
        site, facts = sites[lot.id], lot.facts
        assert site["opening_hours"] == (facts.opening_hours or "24/7")
        assert site.get("address") == facts.address
        assert site.get("max_stay") == (None if facts.max_stay_min is None else facts.max_stay_min * 60)
        if facts.fee is not None and facts.fee.per_hour is not None:
            assert site["has_fee"] is (facts.fee.per_hour > 0 or bool(facts.fee.max_per_day))
