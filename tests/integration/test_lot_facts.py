"""Lot facts (contract 7.1) and the questions a driver asks with them (7.2), over a real hub fed
through MQTT: every field and parameter, as an outside client sees them."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from parking_hub.api.schemas import ErrorBody, LotDetail, LotsPage, NearestAnswer
from tests.integration.hub import (
    FIRST_FLAVOUR_ONLY,
    Hub,
    lot_feature,
    running_hub,
    store_registry,
    unique,
    write_registry,
)
from tests.integration.test_api import checked
from tests.integration.test_skeleton import publish, wait_applied

pytestmark = [pytest.mark.integration, FIRST_FLAVOUR_ONLY]

# A place of its own, so the lots of other tests sharing the servers are out of reach.
_rng = random.Random()
HERE = (round(_rng.uniform(-40, 40), 4), round(_rng.uniform(-170, 170), 4))
STEP = 0.0009  # about 100 m of latitude


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


class Town:
    def __init__(self, hub: Hub, ids: dict[str, str], opens: datetime, closes: datetime) -> None:
        self.hub, self.ids, self.opens, self.closes = hub, ids, opens, closes

    async def nearest(self, **params: Any) -> tuple[int, Any]:
        return await self.hub.get("/v1/nearest", lat=HERE[0], lon=HERE[1], limit=50, **params)

    async def found(self, **params: Any) -> list[str]:
        status, body = await self.nearest(**params)
        assert status == 200, body
        checked(NearestAnswer, body)
        names = {lot_id: name for name, lot_id in self.ids.items()}
        return [names[r["lot_id"]] for r in body["results"]]


@pytest.fixture(scope="module")
async def town(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Town]:
    redis_url, mqtt_url = servers
    tag = unique("f")
    names = ("plain", "mall", "residents", "trucks", "pricey", "nofee", "low", "gated")
    ids = {name: f"{tag}-{k}" for k, name in enumerate(names)}
    # The mall is closed now and opens in two hours, for an hour (in UTC, the hub's --timezone).
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    opens, closes = now + timedelta(hours=2), now + timedelta(hours=3)
    lat, lon = HERE
    fee = {"currency": "CNY", "per_hour": 6.0, "free_minutes": 15, "max_per_day": 60.0, "text": "6 CNY/h"}
    features = [
        lot_feature(ids["plain"], lon, lat + STEP, 4, fee=fee, max_height_m=2.1, opening_hours="24/7",
                    timezone="Asia/Shanghai", max_stay_min=240, address="1 Main Street",
                    url="https://parking.example.org/p", phone="+86 532 8000 0000"),
        lot_feature(ids["mall"], lon, lat + 2 * STEP, 4, opening_hours=f"{_hhmm(opens)}-{_hhmm(closes)}",
                    fee={"per_hour": 5.0}),
        lot_feature(ids["residents"], lon, lat + 3 * STEP, 4, access="residents", fee={"per_hour": 0}),
        lot_feature(ids["trucks"], lon, lat + 4 * STEP, 4, features={"truck": [0, 1], "bus": [2]},
                    fee={"per_hour": 8.0}),
        lot_feature(ids["pricey"], lon, lat + 5 * STEP, 4, fee={"per_hour": 15.0}),
        lot_feature(ids["nofee"], lon, lat + 6 * STEP, 4),
        lot_feature(ids["low"], lon, lat + 7 * STEP, 4, max_height_m=1.9, fee={"per_hour": 4.0}),
        # Its point is 1.5 km away; its entrance is 50 m from HERE, so it is the nearest lot.
        lot_feature(ids["gated"], lon, lat + 15 * STEP, 4, entrances=[[lon, lat + STEP / 2]],
                    fee={"per_hour": 3.0}),
    ]  # fmt: skip
    path = write_registry(tmp_path_factory.mktemp("facts") / "town.geojson", features)
    await store_registry(redis_url, path)
    async with running_hub(redis_url, mqtt_url) as hub:
        t = time.time_ns() // 1_000_000 - 1000
        frame = {"berth": [0, 1, 2, 3], "occupied": [0, 0, 0, 1], "ts": [t] * 4}
        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{lot}/events", frame) for lot in ids.values()])
        for lot in ids.values():
            await wait_applied(hub, lot, 4)
        yield Town(hub, ids, opens, closes)


async def test_closed_and_private_lots_are_not_offered_by_default(town: Town) -> None:
    # Car berths only: of the truck lot, berth 3 is the car berth and it is occupied.
    assert await town.found() == ["gated", "plain", "pricey", "nofee", "low"]


async def test_a_lot_is_measured_to_its_nearest_entrance(town: Town) -> None:
    _, body = await town.nearest()
    gated = body["results"][0]
    assert gated["lot_id"] == town.ids["gated"]
    assert gated["distance_m"] == pytest.approx(50.0, abs=1.0)
    assert gated["lat"] == pytest.approx(HERE[0] + 15 * STEP)  # the lot's own point, still


async def test_results_carry_fee_open_now_and_closes_at(town: Town) -> None:
    _, body = await town.nearest(include_closed="true")
    rows = {r["lot_id"]: r for r in body["results"]}
    plain, mall = rows[town.ids["plain"]], rows[town.ids["mall"]]
    assert plain["fee"] == {
        "currency": "CNY",
        "per_hour": 6.0,
        "free_minutes": 15,
        "max_per_day": 60.0,
        "text": "6 CNY/h",
    }
    assert (plain["open_now"], plain["closes_at"]) == (True, None)
    assert rows[town.ids["nofee"]]["fee"] is None
    assert mall["open_now"] is False
    # Closed now: the closing that counts is the one after it opens.
    assert mall["closes_at"] == town.closes.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_include_closed_offers_lots_closed_at_arrival(town: Town) -> None:
    assert "mall" in await town.found(include_closed="true")
    assert "mall" not in await town.found(include_closed="false")


async def test_a_lot_that_opens_before_arrival_is_offered(town: Town) -> None:
    assert "mall" in await town.found(eta_s=2 * 3600 + 600)
    assert "mall" not in await town.found(eta_s=3 * 3600 + 600)  # closed again by then
    at = (town.opens + timedelta(minutes=10)).isoformat()
    assert "mall" in await town.found(at=at)
    assert "mall" not in await town.found(at=at, eta_s=3600)


async def test_vehicle_counts_only_that_class(town: Town) -> None:
    _, body = await town.nearest(vehicle="truck")
    assert [r["lot_id"] for r in body["results"]] == [town.ids["trucks"]]
    assert (body["results"][0]["free"], body["results"][0]["free_berths"]) == (2, [0, 1])
    assert await town.found(vehicle="bus") == ["trucks"]
    assert await town.found(vehicle="motorcycle") == []
    _, car = await town.nearest(min_free=3)
    assert town.ids["trucks"] not in [r["lot_id"] for r in car["results"]]


async def test_height_access_and_price_filters(town: Town) -> None:
    assert "low" not in await town.found(height_m=2.0)
    assert "low" in await town.found(height_m=1.9)
    assert "plain" not in await town.found(height_m=2.2)
    assert "nofee" in await town.found(height_m=2.2)  # clearance unknown: not skipped
    assert await town.found(max_per_hour=6) == ["gated", "plain", "low"]  # pricey and unknown skipped
    assert await town.found(access="residents") == ["residents"]
    assert await town.found(access="public,residents", max_per_hour=0) == ["residents"]


async def test_berth_level_answers_take_the_filters_too(town: Town) -> None:
    _, body = await town.nearest(level="berth", vehicle="truck")
    assert {(r["lot_id"], r["berth"]) for r in body["results"]} == {
        (town.ids["trucks"], 0),
        (town.ids["trucks"], 1),
    }


async def test_lot_detail_shows_the_facts(town: Town) -> None:
    status, body = await town.hub.get(f"/v1/lots/{town.ids['plain']}")
    assert status == 200
    checked(LotDetail, body)
    assert body["timezone"] == "Asia/Shanghai"
    assert body["opening_hours"] == "24/7"
    assert (body["max_height_m"], body["max_stay_min"], body["access"]) == (2.1, 240, "public")
    assert (body["address"], body["url"], body["phone"]) == (
        "1 Main Street",
        "https://parking.example.org/p",
        "+86 532 8000 0000",
    )
    assert body["fee"]["per_hour"] == 6.0
    assert (body["open_now"], body["closes_at"]) == (True, None)
    _, gated = await town.hub.get(f"/v1/lots/{town.ids['gated']}")
    assert gated["entrances"] == [[HERE[1], HERE[0] + STEP / 2]]
    _, mall = await town.hub.get(f"/v1/lots/{town.ids['mall']}")
    assert mall["open_now"] is False
    assert mall["closes_at"] is not None
    _, trucks = await town.hub.get(f"/v1/lots/{town.ids['trucks']}")
    assert trucks["features"]["truck"]["berths"] == [0, 1]
    assert trucks["features"]["truck"]["free"] == 2


async def test_box_listing_and_stream_say_open_now(town: Town) -> None:
    lat, lon = HERE
    bbox = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.02}"
    status, body = await town.hub.get("/v1/lots", bbox=bbox)
    assert status == 200
    checked(LotsPage, body)
    rows = {r["lot_id"]: r for r in body["lots"]}
    assert rows[town.ids["mall"]]["open_now"] is False
    assert rows[town.ids["plain"]]["open_now"] is True
    assert rows[town.ids["plain"]]["fee"]["currency"] == "CNY"
    assert rows[town.ids["nofee"]]["fee"] is None
    async with town.hub.http.get(town.hub.base_url + "/v1/stream", params={"lots": town.ids["mall"]}) as resp:
        assert resp.status == 200
        while not (line := (await resp.content.readline()).decode()).startswith("data:"):
            pass
    assert '"open_now":false' in line


BAD = [
    ({"vehicle": "plane"}, "vehicle", "vehicle must be one of car, motorcycle, truck or bus"),
    ({"height_m": "-1"}, "height_m", "height_m must be between 0 and 20"),
    ({"height_m": "tall"}, "height_m", "height_m must be a number"),
    ({"access": "staff"}, "access", None),
    ({"access": "public,public"}, "access", "access names a value twice"),
    ({"max_per_hour": "-1"}, "max_per_hour", None),
    ({"at": "2026-01-01T10:00:00"}, "at", None),  # no offset
    ({"at": "tomorrow"}, "at", None),
    ({"at": "2000-01-01T00:00:00Z"}, "at", "at must be from 1 day before to 7 days after now"),
    ({"eta_s": "14401"}, "eta_s", "eta_s must be between 0 and 14400"),
    ({"eta_s": "-1"}, "eta_s", "eta_s must be between 0 and 14400"),
    ({"include_closed": "perhaps"}, "include_closed", None),
]


@pytest.mark.parametrize(("query", "param", "message"), BAD)
async def test_bad_filters_get_400_naming_the_parameter(
    town: Town, query: dict[str, str], param: str, message: str | None
) -> None:
    status, body = await town.nearest(**query)
    assert status == 400, body
    checked(ErrorBody, body)
    assert body["error"]["param"] == param
    if message is not None:
        assert body["error"]["message"] == message


async def test_the_hubs_timezone_reads_the_hours_of_lots_that_name_none(
    servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Open for two hours around now in UTC; twelve hours ahead (Etc/GMT-12 is UTC+12) it is closed.
    A lot naming its own timezone is read in it whatever the hub's."""
    redis_url, mqtt_url = servers
    now = datetime.now(UTC)
    hours = f"{_hhmm(now - timedelta(hours=1))}-{_hhmm(now + timedelta(hours=1))}"
    tag = unique("tz")
    own, named = f"{tag}-own", f"{tag}-named"
    features = [
        lot_feature(own, HERE[1] + 0.5, HERE[0], 2, opening_hours=hours),
        lot_feature(named, HERE[1] + 0.5, HERE[0] + STEP, 2, opening_hours=hours, timezone="UTC"),
    ]
    await store_registry(redis_url, write_registry(tmp_path_factory.mktemp("tz") / "r.geojson", features))
    for zone, own_open in (("UTC", True), ("Etc/GMT-12", False)):
        async with running_hub(redis_url, mqtt_url, timezone=zone) as hub:
            assert (await hub.get(f"/v1/lots/{own}"))[1]["open_now"] is own_open, zone
            assert (await hub.get(f"/v1/lots/{named}"))[1]["open_now"] is True, zone
