"""The publication feeds as their readers check them: ParkAPI v3 sites against ParkAPI's own JSON
Schema, carrying the same live counts as /v1, over a real hub fed through MQTT."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.integration.hub import Hub, lot_feature, running_hub, store_registry, unique, write_registry
from tests.integration.test_skeleton import publish, wait_applied

pytestmark = pytest.mark.integration

PARKAPI_SCHEMA = Path(__file__).parents[1] / "data" / "parkapi" / "parking-site.json"


@pytest.fixture(scope="module")
async def city(
    servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Hub, dict[str, str]]]:
    redis_url, mqtt_url = servers
    tag = unique("f")
    ids = {"garage": f"{tag}-a", "kerb": f"{tag}-b"}
    features = [
        lot_feature(ids["garage"], 120.3826, 36.0671, 4, features={"ev": [0, 1], "accessible": [3]}),
        lot_feature(ids["kerb"], 120.38291234567, -36.0674, 2, kind="on_street"),
    ]
    path = write_registry(tmp_path_factory.mktemp("feeds") / "city.geojson", features)
    await store_registry(redis_url, path)
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
        yield hub, ids


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
