"""The publication feeds as their readers check them: ParkAPI v3 sites against ParkAPI's own JSON
Schema and the DATEX II v3 parking publications against an XML Schema of the DATEX elements they
use, carrying the same live counts as /v1 and the lots' facts, over a real hub fed through MQTT that
serves the seed city and two lots of the test's own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree

from parking_hub.registry import Lot, parse_registry
from parking_hub.store.lots import remove_lots
from tests.integration.hub import (
    FIRST_FLAVOUR_ONLY,
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

pytestmark = [pytest.mark.integration, FIRST_FLAVOUR_ONLY]

DATA = Path(__file__).parents[1] / "data"
PARKAPI_SCHEMA = DATA / "parkapi" / "parking-site.json"
DATEX_SCHEMA = DATA / "datex2" / "d2payload.xsd"
SEED_CITY = Path(__file__).parents[2] / "seeds" / "qingdao.geojson"
NS = {
    "d2": "http://datex2.eu/schema/3/d2Payload",
    "com": "http://datex2.eu/schema/3/common",
    "fac": "http://datex2.eu/schema/3/facilities",
    "loc": "http://datex2.eu/schema/3/locationReferencing",
    "prk": "http://datex2.eu/schema/3/parking",
}
XSI = {"xsi": "http://www.w3.org/2001/XMLSchema-instance"}
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
        # A name with a character XML cannot carry (the registry takes any text).
        lot_feature(ids["kerb"], 120.38291234567, -36.0674, 2, kind="on_street", name="Kerb\x01side"),
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


async def get_xml(hub: Hub, path: str) -> etree._Element:
    async with hub.http.get(hub.base_url + path) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/xml"
        return etree.fromstring(await resp.read())


def datex_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(DATEX_SCHEMA)))


def texts(element: etree._Element, path: str) -> list[str]:
    """The text of every node at an XPath below `element`."""
    return [str(node) for node in cast(list[Any], element.xpath(path + "/text()", namespaces=NS | XSI))]


def one(element: etree._Element, path: str) -> str:
    found = texts(element, path)
    assert len(found) == 1, (path, found)
    return found[0]


def child(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path, NS)
    assert found is not None, path
    return found


async def test_datex_parking_table_is_valid_and_carries_each_lot(
    city: tuple[Hub, dict[str, str]], seed_lots: list[Lot]
) -> None:
    hub, ids = city
    schema = datex_schema()
    table = await get_xml(hub, "/datex2/v3/parking-table")
    schema.assertValid(table)
    assert table.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "prk:ParkingTablePublication"
    places = {p.get("id"): p for p in table.iterfind(".//prk:hierarchyElementGeneral", NS)}
    _, summary = await hub.get("/v1/summary")
    assert len(places) == summary["lots"]
    garage, kerb = places[ids["garage"]], places[ids["kerb"]]
    assert one(garage, "fac:name/com:values/com:value") == f"Lot {ids['garage']}"
    assert float(one(garage, ".//loc:latitude")) == 36.0671
    assert float(one(garage, ".//loc:longitude")) == 120.3826
    assert one(garage, "prk:supply/prk:quantity") == one(garage, ".//prk:spacesTotal") == "4"
    assert one(garage, ".//com:vehicleHeight") == "2.1"
    assert one(garage, ".//prk:maximumParkingDuration") == str(120 * 60)
    assert one(garage, "fac:informationWebsite/com:urlLinkAddress") == GARAGE_FACTS["url"]
    assert one(garage, ".//prk:openToPublic") == "false"  # customers only
    assert garage.find("fac:operatingHours", NS) is None  # hours DATEX cannot say as text
    assert one(kerb, "fac:name/com:values/com:value") == "Kerb\ufffdside"
    assert one(kerb, ".//prk:structureType") == "onStreet"
    assert one(kerb, ".//prk:openToPublic") == "true"
    assert child(kerb, "fac:operatingHours").get(f"{{{XSI['xsi']}}}type") == "fac:OpenAllHours"
    for lot in seed_lots:
        place, facts = places[lot.id], lot.facts
        assert int(one(place, "prk:supply/prk:quantity")) == lot.capacity
        heights = [float(h) for h in texts(place, ".//com:vehicleHeight")]
        assert heights == ([] if facts.max_height_m is None else [facts.max_height_m])
        always = facts.opening_hours in (None, "24/7")
        assert (place.find("fac:operatingHours", NS) is not None) is always
    # The schema is not vacuous: a Place without its layer, or with its elements out of order, fails.
    broken = etree.fromstring(etree.tostring(table))
    first = child(broken, ".//prk:hierarchyElementGeneral")
    first.remove(child(first, "prk:layer"))
    assert not schema.validate(broken)
    swapped = etree.fromstring(etree.tostring(table))
    moved = child(swapped, ".//prk:hierarchyElementGeneral")
    moved.append(child(moved, "fac:name"))
    assert not schema.validate(swapped)


async def test_datex_parking_status_is_valid_and_carries_the_counts_of_v1_lots(
    city: tuple[Hub, dict[str, str]],
) -> None:
    hub, ids = city
    schema = datex_schema()
    table = await get_xml(hub, "/datex2/v3/parking-table")
    status = await get_xml(hub, "/datex2/v3/parking-status")
    schema.assertValid(status)
    version = child(table, "prk:parkingTable").get("version")
    reference = child(status, "prk:parkingTableReference")
    assert (reference.get("id"), reference.get("version")) == ("parking-hub", version)
    infos = {
        child(i, "fac:reference").get("id"): i for i in status.iterfind("prk:parkingStatusInformation", NS)
    }
    _, summary = await hub.get("/v1/summary")
    assert len(infos) == summary["lots"]
    for name in ("garage", "kerb", "gated"):
        _, lot = await hub.get(f"/v1/lots/{ids[name]}")
        info = infos[ids[name]]
        assert child(info, "fac:reference").get("version") == version
        assert int(one(info, "prk:occupancy/prk:numberOfVacantSpaces")) == lot["free"]
        assert int(one(info, "prk:occupancy/prk:numberOfOccupiedSpaces")) == lot["occupied"]
        updated = [lot["updated_at"]] if lot["updated_at"] else []
        assert texts(info, "fac:lastUpdated") == updated
        assert one(info, "fac:openingStatus") == ("open" if lot["open_now"] else "closed")
    faults = {name: texts(infos[ids[name]], "prk:parkingFault") for name in ids}
    assert faults == {
        "garage": [],
        "kerb": [],
        "gated": ["communicationsFailure", "noParkingInformationAvailable"],
    }
    # The garage has a free berth: spaces available. Its accessible berth is unknown: it may be free,
    # so a lot is full only when every berth is known and taken.
    assert one(infos[ids["garage"]], "prk:status") == "spacesAvailable"
    assert one(infos[ids["gated"]], "prk:status") == "unknown"
    # A seed lot nobody reported on: its counts are all unknown, but its gateway never said offline.
    seed = next(info for lot_id, info in infos.items() if lot_id not in ids.values())
    assert one(seed, "prk:status") == "unknown"
    assert texts(seed, "prk:parkingFault") == ["noParkingInformationAvailable"]
    assert seed.find("fac:lastUpdated", NS) is None


async def test_datex_table_is_built_once_per_registry_load_and_the_status_follows_the_berths(
    city: tuple[Hub, dict[str, str]], mqtt_url: str
) -> None:
    hub, ids = city
    first = await get_xml(hub, "/datex2/v3/parking-table")
    again = await get_xml(hub, "/datex2/v3/parking-table")
    assert etree.tostring(first) == etree.tostring(again)  # publicationTime included

    def vacant(status: etree._Element) -> int:
        info = status.xpath(
            "prk:parkingStatusInformation[fac:reference/@id=$lot]", namespaces=NS, lot=ids["kerb"]
        )
        return int(one(cast(list[etree._Element], info)[0], "prk:occupancy/prk:numberOfVacantSpaces"))

    before = vacant(await get_xml(hub, "/datex2/v3/parking-status"))
    _, lot = await hub.get(f"/v1/lots/{ids['kerb']}")
    # The kerb's second berth, never reported so far, reports free: the status has it within a second.
    frame = {"berth": [1], "occupied": [0], "ts": [time.time_ns() // 1_000_000]}
    await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{ids['kerb']}/events", frame)])
    await wait_applied(hub, ids["kerb"], lot["events_applied"] + 1)
    after = await eventually(
        lambda: get_xml(hub, "/datex2/v3/parking-status"), lambda status: vacant(status) == before + 1
    )
    assert vacant(after) == before + 1


async def test_datex_publications_refuse_parameters(city: tuple[Hub, dict[str, str]]) -> None:
    hub, _ = city
    for path in ("/datex2/v3/parking-table", "/datex2/v3/parking-status"):
        status, body = await hub.get(path, limit="10")
        assert status == 400, body
        assert (body["error"]["code"], body["error"]["param"]) == ("invalid_parameter", "limit")
