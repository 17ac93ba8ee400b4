"""NGSI-LD open data as a client sees it: every entity valid against the FIWARE schemas, and the same
state as /v1, over a real hub fed through MQTT."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from parking_hub.api.ngsi import filters
from parking_hub.api.ngsi.schemas import EntityList, FeatureCollection, OneEntity, ProblemDetails
from tests.fiware import check_key_values, check_normalized, reduce_normalized
from tests.integration.hub import (
    FIRST_FLAVOUR_ONLY,
    Hub,
    eventually,
    lot_feature,
    running_hub,
    store_registry,
    unique,
    write_registry,
)
from tests.integration.test_skeleton import publish, wait_applied

pytestmark = [pytest.mark.integration, FIRST_FLAVOUR_ONLY]

ENTITIES = "/ngsi-ld/v1/entities"
BAYS = [[120.3830, 36.0675], [120.3831, 36.0676], [120.3832, 36.0677]]
CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"'
BAD_DATA = "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
HOUR_MS = 3_600_000

Answer = tuple[int, CIMultiDictProxy[str], Any]


async def ngsi(hub: Hub, path: str = ENTITIES, accept: str | None = None, **query: Any) -> Answer:
    headers = {} if accept is None else {"Accept": accept}
    async with hub.http.get(hub.base_url + path, params=query, headers=headers) as resp:
        return resp.status, resp.headers, await resp.json(content_type=None)


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def site(kind: str, lot: str) -> str:
    return f"urn:ngsi-ld:{kind}:{lot}"


def spot(lot: str, berth: int) -> str:
    return f"urn:ngsi-ld:ParkingSpot:{lot}:{berth}"


class City:
    def __init__(self, hub: Hub, mqtt_url: str, ids: dict[str, str]) -> None:
        self.hub, self.mqtt_url, self.ids = hub, mqtt_url, ids

    def spots(self, name: str, capacity: int) -> list[str]:
        return [spot(self.ids[name], b) for b in range(capacity)]


@pytest.fixture(scope="module")
async def city(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[City]:
    """A garage with free, occupied, stale and silent berths; a kerb with bays; an offline lot; and a
    lot kept for the test that changes its state."""
    redis_url, mqtt_url = servers
    tag = unique("n")
    ids = {"garage": f"{tag}-a", "kerb": f"{tag}-b", "offline": f"{tag}-c", "live": f"{tag}-d"}
    features = [
        lot_feature(ids["garage"], 120.3826, 36.0671, 6, features={"ev": [0, 1], "accessible": [5]}),
        lot_feature(ids["kerb"], 120.3829, 36.0674, 3, kind="on_street", berths=BAYS),
        lot_feature(ids["offline"], 120.3900, 36.0700, 2),
        lot_feature(ids["live"], 120.3950, 36.0710, 2, kind="on_street"),
    ]
    path = write_registry(tmp_path_factory.mktemp("ngsi") / "city.geojson", features)
    await store_registry(redis_url, path)
    async with running_hub(redis_url, mqtt_url) as hub:
        t = time.time_ns() // 1_000_000 - 1000
        stale = t - 3 * HOUR_MS - 60_000  # the default heartbeat is an hour: three of them have passed
        frames = {
            ids["garage"]: {"berth": [0, 1, 2, 3, 4], "occupied": [1, 0, 0, 1, 0], "ts": [t] * 4 + [stale]},
            ids["kerb"]: {"berth": [0, 1, 2], "occupied": [1, 0, 0], "ts": [t] * 3},
            ids["offline"]: {"berth": [0, 1], "occupied": [0, 0], "ts": [t] * 2},
            ids["live"]: {"berth": [0, 1], "occupied": [1, 1], "ts": [t] * 2},
        }
        prefix = f"{hub.prefix}/v1/lots"
        await publish(mqtt_url, [(f"{prefix}/{lot}/events", f) for lot, f in frames.items()])
        for lot, frame in frames.items():
            await wait_applied(hub, lot, len(frame["berth"]))
        await publish(mqtt_url, [(f"{prefix}/{ids['offline']}/status", {"online": False, "ts": t + 1})])
        offline = f"/v1/lots/{ids['offline']}"
        assert (await eventually(lambda: hub.get(offline), lambda r: not r[1]["online"]))[1][
            "online"
        ] is False
        yield City(hub, mqtt_url, ids)


async def test_sites_are_valid_and_carry_the_counts_of_v1_lots(city: City) -> None:
    ids = city.ids
    wanted = [site("OnStreetParking", ids["kerb"]), site("OffStreetParking", ids["offline"])]
    wanted += [site("OffStreetParking", ids["garage"])]
    status, headers, body = await ngsi(city.hub, id=",".join(wanted))
    assert status == 200, body
    EntityList.model_validate(body)
    # Served in a fixed order: off-street before on-street, lots by id.
    assert [e["id"] for e in body] == [wanted[2], wanted[1], wanted[0]]
    for entity, name in zip(body, ("garage", "offline", "kerb"), strict=True):
        check_normalized(entity)
        _, lot = await city.hub.get(f"/v1/lots/{ids[name]}")
        assert entity["totalSpotNumber"]["value"] == lot["capacity"]
        assert entity["availableSpotNumber"]["value"] == lot["free"]
        assert entity["occupiedSpotNumber"]["value"] == lot["occupied"]
        assert entity["availableSpotNumber"]["observedAt"] == lot["updated_at"]
        assert entity["location"]["value"]["coordinates"] == [lot["lon"], lot["lat"]]
        assert entity["name"]["value"] == lot["name"]
    garage, offline, kerb = body
    assert (garage["availableSpotNumber"]["value"], garage["occupiedSpotNumber"]["value"]) == (2, 2)
    assert garage["status"]["value"] == ["spacesAvailable"]
    assert garage["category"]["value"] == ["forElectricalCharging", "forDisabled"]
    assert garage["occupancy"]["value"] == round(2 / 6, 4)
    assert "status" not in offline  # nothing is known: neither room nor full
    assert "status" not in kerb  # not an attribute of OnStreetParking
    assert headers["Content-Type"].startswith("application/json")
    assert CONTEXT_REL in headers["Link"]


async def test_spots_are_valid_and_say_free_occupied_or_unknown(city: City) -> None:
    wanted = city.spots("garage", 6) + city.spots("kerb", 3) + city.spots("offline", 2)
    status, _, body = await ngsi(city.hub, id=",".join(reversed(wanted)), type="ParkingSpot", limit=50)
    assert status == 200, body
    EntityList.model_validate(body)
    assert [e["id"] for e in body] == wanted  # lots by id, then berths
    for entity in body:
        check_normalized(entity)
    statuses = [e["status"]["value"] for e in body]
    # garage: berth 4 is stale and 5 never reported; the offline lot's berths are unknown.
    assert (
        statuses
        == ["occupied", "free", "free", "occupied", "unknown", "unknown"]
        + [
            "occupied",
            "free",
            "free",
        ]
        + ["unknown"] * 2
    )
    assert ["observedAt" in e["status"] for e in body] == [s != "unknown" for s in statuses]
    kerb = body[6:9]
    assert [e["location"]["value"]["coordinates"] for e in kerb] == BAYS
    assert {e["refParkingSite"]["object"] for e in kerb} == {site("OnStreetParking", city.ids["kerb"])}
    assert {tuple(e["category"]["value"]) for e in kerb} == {("onStreet",)}
    garage = body[0]
    assert garage["location"]["value"]["coordinates"] == [120.3826, 36.0671]
    assert garage["category"]["value"] == ["offStreet"]


async def test_pages_follow_offset_and_limit_and_count(city: City) -> None:
    wanted = city.spots("garage", 6) + city.spots("kerb", 3)
    seen: list[str] = []
    for offset in range(0, 12, 4):
        status, headers, body = await ngsi(
            city.hub, id=",".join(wanted), limit=4, offset=offset, count="true"
        )
        assert status == 200, body
        assert headers["NGSILD-Results-Count"] == "9"
        seen += [e["id"] for e in body]
    assert seen == wanted
    status, headers, body = await ngsi(city.hub, type="ParkingSpot", limit=0, count="true")
    assert (status, body) == (200, [])
    _, summary = await city.hub.get("/v1/summary")
    assert int(headers["NGSILD-Results-Count"]) == summary["berths"]
    for either in ("OnStreetParking,OffStreetParking", "OffStreetParking|OnStreetParking"):
        status, headers, body = await ngsi(city.hub, type=either, count="true")
        assert int(headers["NGSILD-Results-Count"]) == summary["lots"]
    assert len(body) == min(20, summary["lots"])  # NGSI-LD's default page


async def test_every_entity_in_the_city_is_valid(city: City) -> None:
    """Every site, and the first and last pages of spots, whoever's lots share these servers."""
    _, summary = await city.hub.get("/v1/summary")
    sites: list[dict[str, Any]] = []
    while len(sites) < summary["lots"]:
        _, _, body = await ngsi(
            city.hub, type="OffStreetParking,OnStreetParking", limit=1000, offset=len(sites)
        )
        assert body, "fewer sites than lots"
        sites += body
    assert len({e["id"] for e in sites}) == summary["lots"]
    spots: list[dict[str, Any]] = []
    for offset in (0, max(0, summary["berths"] - 1000)):
        _, _, body = await ngsi(city.hub, type="ParkingSpot", limit=1000, offset=offset)
        assert len(body) == min(1000, summary["berths"] - offset)
        spots += body
    for entity in sites + spots:
        check_normalized(entity)


async def test_json_ld_carries_the_context_in_the_body(city: City) -> None:
    garage = site("OffStreetParking", city.ids["garage"])
    status, headers, body = await ngsi(city.hub, accept="application/ld+json", id=garage)
    assert status == 200
    assert headers["Content-Type"].startswith("application/ld+json")
    assert "Link" not in headers
    assert body[0]["@context"] == [
        "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    ]
    EntityList.model_validate(body)
    check_normalized(body[0])
    _, _, plain = await ngsi(city.hub, id=garage)
    assert {k: v for k, v in body[0].items() if k != "@context"} == plain[0]


async def test_key_values_are_the_schemas_own_form(city: City) -> None:
    ids = [site("OffStreetParking", city.ids["garage"]), *city.spots("kerb", 3)]
    _, _, normalized = await ngsi(city.hub, id=",".join(ids))
    status, _, simplified = await ngsi(city.hub, id=",".join(ids), options="keyValues")
    assert status == 200
    for entity in simplified:
        check_key_values(entity)
    assert simplified == [reduce_normalized(e) for e in normalized]


async def test_one_entity_by_id(city: City) -> None:
    wanted = spot(city.ids["kerb"], 2)
    status, _, body = await ngsi(city.hub, f"{ENTITIES}/{wanted}")
    assert status == 200
    OneEntity.model_validate(body)
    _, _, listed = await ngsi(city.hub, id=wanted)
    assert body == listed[0]
    status, _, body = await ngsi(city.hub, f"{ENTITIES}/{quote(wanted, safe='')}", options="keyValues")
    assert (status, body["status"]) == (200, "free")
    status, _, body = await ngsi(city.hub, f"{ENTITIES}/{spot(city.ids['kerb'], 3)}")
    assert status == 404
    ProblemDetails.model_validate(body)
    assert body["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"


async def test_types_this_server_does_not_serve_match_nothing(city: City) -> None:
    status, headers, body = await ngsi(city.hub, type="Vehicle", count="true")
    assert (status, body, headers["NGSILD-Results-Count"]) == (200, [], "0")
    garage = site("OffStreetParking", city.ids["garage"])
    status, _, body = await ngsi(city.hub, id=garage, type="ParkingSpot")
    assert (status, body) == (200, [])


async def test_entities_follow_the_live_state(city: City) -> None:
    lot = city.ids["live"]
    ids = ",".join([site("OnStreetParking", lot), spot(lot, 1)])
    _, _, before = await ngsi(city.hub, id=ids)
    assert before[0]["availableSpotNumber"]["value"] == 0
    assert before[1]["status"]["value"] == "occupied"
    t = time.time_ns() // 1_000_000
    await publish(city.mqtt_url, [(f"{city.hub.prefix}/v1/lots/{lot}/berths/1", {"occupied": 0, "ts": t})])
    _, _, after = await eventually(
        lambda: ngsi(city.hub, id=ids), lambda r: r[2][0]["availableSpotNumber"]["value"] == 1
    )
    assert after[1]["status"] == {"type": "Property", "value": "free", "observedAt": iso_ms(t)}


BAD_REQUESTS: list[tuple[Mapping[str, str], int, str]] = [
    ({}, 400, "type is required unless id, idPattern, attrs, q or a geo-query is given"),
    ({"type": "ParkingSpot", "limit": "1001"}, 400, "limit must be between 0 and 1000"),
    ({"type": "ParkingSpot", "limit": "0"}, 400, "limit must be between 1 and 1000, or 0 with count=true"),
    ({"type": "ParkingSpot", "limit": "-1"}, 400, "limit must be between 0 and 1000"),
    ({"type": "ParkingSpot", "offset": "-1"}, 400, "offset must be at least 0"),
    ({"type": "ParkingSpot", "offset": "x"}, 400, "offset must be an integer"),
    ({"type": "ParkingSpot", "count": "yes"}, 400, "count must be one of true or false"),
    (
        {"type": "ParkingSpot", "options": "keyValues,bogus"},
        400,
        (
            "options must be a comma list of options (keyValues, simplified, concise, normalized, sysAttrs); "
            "'bogus' is not one"
        ),
    ),
    ({"type": "Parking Spot"}, 400, "type must be a comma list of type names; 'Parking Spot' is not one"),
    ({"type": "ParkingSpot,"}, 400, "type must be a comma list of type names; '' is not one"),
    ({"type": "A;B"}, 400, "type must be a comma list of type names; 'A;B' is not one"),
    ({"id": "garage"}, 400, "id must be a comma list of URIs; 'garage' is not one"),
    ({"id": ",".join(["urn:x:1"] * 101)}, 400, "id must name at most 100 ids"),
    ({"type": "ParkingSpot", "color": "red"}, 400, "color is not a parameter of this endpoint"),
    (
        {"type": "ParkingSpot", "q": "status==free"},
        400,
        "q has 'free' as a value: quote text, as in status==\"free\"",
    ),
    ({"type": "ParkingSpot", "q": 'status=="free";('}, 400, "q ends too early"),
    ({"type": "ParkingSpot", "q": 'name~="("'}, 400, "q is not a regular expression in RE2's syntax"),
    (
        {"type": "ParkingSpot", "idPattern": "(a"},
        400,
        "idPattern is not a regular expression in RE2's syntax",
    ),
    (
        {"type": "ParkingSpot", "georel": "near;maxDistance==100"},
        400,
        "a geo-query needs georel, geometry and coordinates together",
    ),
    (
        {"georel": "near;maxDistance==-1", "geometry": "Point", "coordinates": "[120,36]"},
        400,
        "maxDistance must be a number of metres, at least 0",
    ),
    (
        {"georel": "within", "geometry": "Point", "coordinates": "[120,36]"},
        400,
        "within takes a Polygon or MultiPolygon geometry",
    ),
    (
        {"georel": "within", "geometry": "Polygon", "coordinates": "[[[120,36],[121,36],[120,36]]]"},
        400,
        "each ring is a closed list of at least four positions",
    ),
    ({"type": "ParkingSpot", "lang": "en"}, 422, "lang is not supported by this server"),
]


@pytest.mark.parametrize(("query", "status", "detail"), BAD_REQUESTS)
async def test_bad_requests_get_problem_details(
    city: City, query: Mapping[str, str], status: int, detail: str
) -> None:
    got, headers, body = await ngsi(city.hub, **query)
    assert got == status, body
    ProblemDetails.model_validate(body)
    assert headers["Content-Type"].startswith("application/json")
    kind = BAD_DATA if status == 400 else "https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported"
    assert (body["type"], body["detail"]) == (kind, detail)


async def test_an_unacceptable_accept_header_gets_406(city: City) -> None:
    status, _, body = await ngsi(city.hub, accept="text/csv", type="ParkingSpot")
    assert status == 406
    assert body["detail"] == (
        "this server answers application/json or application/ld+json or application/geo+json only"
    )
    status, _, body = await ngsi(city.hub, f"{ENTITIES}/not%20a%20uri")
    assert (status, body["type"]) == (400, BAD_DATA)


async def test_nothing_a_client_sends_gets_a_500(city: City) -> None:
    raw = ["%00", "%ff%fe", "' OR 1=1", "../../etc", "9" * 400, "-0", "0x10", "1_0", "+5", " 5", "∞", ""]
    for value in raw:
        for path in (
            "/ngsi-ld/v1/entities?type={v}&limit={v}&offset={v}",
            "/ngsi-ld/v1/entities?id={v}&count={v}",
            "/ngsi-ld/v1/entities?type=ParkingSpot&offset={v}",
            "/ngsi-ld/v1/entities/{v}?options={v}",
        ):
            url = city.hub.base_url + path.format(v=quote(value, safe="%"))
            accept = {"Accept": value} if value.isascii() else {}
            async with city.hub.http.get(URL(url, encoded=True), headers=accept) as resp:
                assert resp.status < 500, (url, resp.status)
                body = await resp.json()
                if "entities?" in url:  # always routed to the NGSI-LD handler
                    ProblemDetails.model_validate(body)


CLIENTS_PYTHON = Path(__file__).parents[2] / ".venv-clients" / "bin" / "python"
CLIENTS_SCRIPT = Path(__file__).parents[1] / "clients" / "ngsi_clients.py"


async def all_ids(hub: Hub, **query: Any) -> list[str]:
    """Every id a GET query matches, paged by hand."""
    found: list[str] = []
    while True:
        status, _, body = await ngsi(hub, limit=1000, offset=len(found), **query)
        assert status == 200, body
        found += [e["id"] for e in body]
        if len(body) < 1000:
            return found


async def test_filip_and_ngsildclient_query_the_hub(city: City) -> None:
    """The PyPI clients, in their own virtualenv (scripts/test makes it), against the running hub."""
    assert CLIENTS_PYTHON.exists(), "run scripts/test once: it makes .venv-clients"
    kerb = city.ids["kerb"]
    near = BAYS[1]
    spec = {
        "near": near,
        "spot_pattern": f"^urn:ngsi-ld:ParkingSpot:{kerb}:",
        "kerb_site": site("OnStreetParking", kerb),
        "page_total": 25,
    }
    process = await asyncio.create_subprocess_exec(
        str(CLIENTS_PYTHON), str(CLIENTS_SCRIPT), city.hub.base_url, json.dumps(spec),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-3000:]
    got = json.loads(out.decode().strip().splitlines()[-1])
    filip, ngsildclient = got["filip"], got["ngsildclient"]

    sites = await all_ids(city.hub, type="OffStreetParking")
    assert filip["by_type"] == sites
    assert ngsildclient["by_type"] == sites
    assert filip["by_pattern"] == city.spots("kerb", 3)
    projected = {tuple(names) for names in filip["by_attrs"]}
    assert projected == {("@context", "availableSpotNumber", "id", "type")}
    assert filip["by_q"] == [spot(kerb, 1), spot(kerb, 2)]  # berth 0 is occupied
    geo = {"georel": "near;maxDistance==30", "geometry": "Point", "coordinates": json.dumps(near)}
    near_ids = await all_ids(city.hub, type="ParkingSpot", **geo)
    assert set(city.spots("kerb", 3)) <= set(near_ids)
    assert filip["near"] == near_ids
    assert ngsildclient["near"] == near_ids
    assert filip["paged"] == (await all_ids(city.hub, type="ParkingSpot"))[:25]
    assert [e["id"] for e in filip["key_values"]] == city.spots("kerb", 3)
    assert [e["status"] for e in filip["key_values"]] == ["occupied", "free", "free"]
    _, headers, _ = await ngsi(city.hub, type="ParkingSpot", limit=0, count="true")
    assert ngsildclient["count"] == int(headers["NGSILD-Results-Count"])
    assert ngsildclient["by_q"] == await all_ids(city.hub, type="ParkingSpot", q='status=="occupied"')
    assert set(city.spots("kerb", 3)) <= set(ngsildclient["within"])


async def test_the_list_answers_with_a_trailing_slash_too(city: City) -> None:
    garage = site("OffStreetParking", city.ids["garage"])
    _, _, plain = await ngsi(city.hub, id=garage)
    status, _, slashed = await ngsi(city.hub, f"{ENTITIES}/", id=garage, idPattern=".*")
    assert (status, slashed) == (200, plain)


async def test_geo_queries_follow_the_locations(city: City) -> None:
    """near and within by the entities' own points, checked against distances computed here."""
    ids = city.ids
    lon, lat = 120.3826, 36.0671  # the garage's point
    near = {"georel": "near;maxDistance==60", "geometry": "Point", "coordinates": json.dumps([lon, lat])}
    found = await all_ids(city.hub, type="OffStreetParking,OnStreetParking", **near)
    # The kerb's point is ~43 m away, the offline lot's ~800 m.
    assert site("OffStreetParking", ids["garage"]) in found
    assert site("OnStreetParking", ids["kerb"]) in found
    assert site("OffStreetParking", ids["offline"]) not in found
    far = near | {"georel": "near;minDistance==60"}
    assert site("OnStreetParking", ids["kerb"]) not in await all_ids(city.hub, type="OnStreetParking", **far)
    # A box around the kerb's first two bays only: spots are placed at their bays.
    box = [[120.38295, 36.06745], [120.38315, 36.06745], [120.38315, 36.06765], [120.38295, 36.06765]]
    within = {"georel": "within", "geometry": "Polygon", "coordinates": json.dumps([[*box, box[0]]])}
    spots = await all_ids(city.hub, type="ParkingSpot", **within)
    assert [s for s in spots if s.startswith(spot(ids["kerb"], 0)[:-1])] == [
        spot(ids["kerb"], b) for b in (0, 1)
    ]
    outside = await all_ids(
        city.hub, type="ParkingSpot", id=",".join(city.spots("kerb", 3)), **within | {"georel": "disjoint"}
    )
    assert outside == [spot(ids["kerb"], 2)]


async def test_q_compares_the_served_attributes(city: City) -> None:
    ids = city.ids
    garage, kerb = site("OffStreetParking", ids["garage"]), site("OnStreetParking", ids["kerb"])
    both = f"{garage},{kerb}"
    for q, wanted in [
        ("availableSpotNumber==2", [garage, kerb]),
        ("availableSpotNumber>2", []),
        ("occupiedSpotNumber==1..2;totalSpotNumber>=6", [garage]),
        ('status=="spacesAvailable"', [garage]),  # OnStreetParking has no status
        ('category=="forDisabled"|totalSpotNumber<4', [garage, kerb]),
        ("totalSpotNumber!=6", [kerb]),
        ('category!="forDisabled"', []),  # the kerb has no category: an absent attribute never matches
        ("occupancy", [garage]),
        ('name~="^Lot "', [garage, kerb]),
    ]:
        status, _, body = await ngsi(city.hub, id=both, q=q)
        assert status == 200, (q, body)
        assert [e["id"] for e in body] == wanted, q
    free = await all_ids(city.hub, id=",".join(city.spots("garage", 6)), q='status=="free","unknown"')
    assert free == [spot(ids["garage"], b) for b in (1, 2, 4, 5)]


async def test_attrs_pick_omit_and_forms(city: City) -> None:
    garage = site("OffStreetParking", city.ids["garage"])
    _, _, (full,) = await ngsi(city.hub, id=garage)
    _, _, (picked,) = await ngsi(city.hub, id=garage, attrs="availableSpotNumber,status")
    assert picked == {k: full[k] for k in ("id", "type", "availableSpotNumber", "status")}
    _, _, (picked,) = await ngsi(city.hub, id=garage, pick="id,name", options="keyValues")
    assert picked == {"id": garage, "name": full["name"]["value"]}
    _, _, (omitted,) = await ngsi(city.hub, id=garage, omit="location,name")
    assert omitted == {k: v for k, v in full.items() if k not in ("location", "name")}
    _, _, (concise,) = await ngsi(city.hub, id=garage, format="concise")
    assert concise["name"] == full["name"]["value"]
    assert concise["location"] == full["location"]["value"]
    assert concise["availableSpotNumber"] == {
        k: v for k, v in full["availableSpotNumber"].items() if k != "type"
    }
    _, _, (with_sys,) = await ngsi(city.hub, id=garage, options="sysAttrs")
    observed = full["availableSpotNumber"]["observedAt"]
    assert with_sys["availableSpotNumber"]["modifiedAt"] == observed
    assert with_sys["modifiedAt"] == max(
        a["observedAt"] for a in full.values() if isinstance(a, dict) and "observedAt" in a
    )
    assert "modifiedAt" not in with_sys["name"]


async def test_geo_json_answers_features(city: City) -> None:
    ids = ",".join(city.spots("kerb", 3))
    status, headers, body = await ngsi(city.hub, accept="application/geo+json", id=ids, options="keyValues")
    assert status == 200
    assert headers["Content-Type"].startswith("application/geo+json")
    FeatureCollection.model_validate(body)
    assert [f["geometry"]["coordinates"] for f in body["features"]] == BAYS
    assert [f["properties"]["status"] for f in body["features"]] == ["occupied", "free", "free"]
    status, _, one = await ngsi(
        city.hub, f"{ENTITIES}/{spot(city.ids['kerb'], 1)}", accept="application/geo+json"
    )
    assert (status, one["type"], one["geometry"]["coordinates"]) == (200, "Feature", BAYS[1])


async def test_types_and_attributes(city: City) -> None:
    status, _, body = await ngsi(city.hub, "/ngsi-ld/v1/types")
    assert (status, body["type"], body["typeList"]) == (
        200,
        "EntityTypeList",
        ["OffStreetParking", "OnStreetParking", "ParkingSpot"],
    )
    _, _, detailed = await ngsi(city.hub, "/ngsi-ld/v1/types", details="true")
    spot_type = next(t for t in detailed if t["typeName"] == "ParkingSpot")
    _, _, one = await ngsi(city.hub, f"{ENTITIES}/{spot(city.ids['kerb'], 0)}")
    assert set(spot_type["attributeNames"]) == set(one) - {"id", "type"}
    _, _, attributes = await ngsi(city.hub, "/ngsi-ld/v1/attributes")
    assert set(attributes["attributeList"]) >= set(spot_type["attributeNames"])
    _, _, detailed = await ngsi(city.hub, "/ngsi-ld/v1/attributes", details="true")
    location = next(a for a in detailed if a["attributeName"] == "location")
    assert location["attributeTypes"] == ["GeoProperty"]
    assert location["typeNames"] == ["OffStreetParking", "OnStreetParking", "ParkingSpot"]


async def post_query(hub: Hub, body: bytes, **query: Any) -> Answer:
    url = hub.base_url + "/ngsi-ld/v1/entityOperations/query"
    headers = {"Content-Type": "application/json"}
    async with hub.http.post(url, data=body, params=query, headers=headers) as resp:
        return resp.status, resp.headers, await resp.json(content_type=None)


async def test_post_query_answers_as_get(city: City) -> None:
    kerb = city.ids["kerb"]
    query = {
        "type": "Query",
        "entities": [{"idPattern": f"^urn:ngsi-ld:ParkingSpot:{kerb}:"}],
        "q": 'status=="free"',
    }
    status, headers, body = await post_query(city.hub, json.dumps(query).encode(), count="true")
    assert status == 200, body
    assert [e["id"] for e in body] == [spot(kerb, 1), spot(kerb, 2)]
    assert headers["NGSILD-Results-Count"] == "2"
    for raw, kind, detail in [
        (b"{", "InvalidRequest", "the Query body"),
        (b'{"type": "Query", "entities": [{}, {}]}', "InvalidRequest", "the Query body: entities"),
        (b'{"type": "Query", "q": "status=="}', "BadRequestData", "q ends too early"),
    ]:
        status, _, problem = await post_query(city.hub, raw)
        assert status == 400, problem
        ProblemDetails.model_validate(problem)
        assert problem["type"].endswith(kind)
        assert problem["detail"].startswith(detail), problem


async def test_unknown_ngsi_paths_and_methods_answer_problem_details(city: City) -> None:
    for method, path, status in [
        ("GET", "/ngsi-ld/v1/subscriptions", 404),
        ("GET", "/ngsi-ld/v2/entities", 404),
        ("POST", ENTITIES, 405),
        ("DELETE", f"{ENTITIES}/{spot(city.ids['kerb'], 0)}", 405),
    ]:
        async with city.hub.http.request(method, city.hub.base_url + path) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == status, (path, body)
            assert resp.content_type == "application/json"
            ProblemDetails.model_validate(body)
            kind = "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound" if status == 404 else "about:blank"
            assert (body["type"], body["status"]) == (kind, status)


async def test_a_query_over_its_work_limits_is_too_complex(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limits on idPattern and q work (250,000 ids, 50,000 judged entities), shrunk to this city."""
    garage = city.spots("garage", 6)
    monkeypatch.setattr(filters, "MAX_PATTERN_IDS", 5)
    monkeypatch.setattr(filters, "MAX_JUDGED", 1)
    for query, detail in [
        ({"id": ",".join(garage), "idPattern": ":1$"}, "idPattern would be tried on 6 ids, more than 5"),
        (
            {"id": ",".join(garage[:5]), "q": "status"},
            "q or attrs would judge 3 entities",
        ),  # occupied, free, stale
        ({"type": "OffStreetParking,OnStreetParking", "attrs": "name"}, "q or attrs would judge"),
    ]:
        status, _, body = await ngsi(city.hub, **query)
        assert status == 403, body
        ProblemDetails.model_validate(body)
        assert body["type"] == "https://uri.etsi.org/ngsi-ld/errors/TooComplexQuery"
        assert body["detail"].startswith(detail), body
    # At the limits, the same queries are answered.
    status, _, body = await ngsi(city.hub, id=",".join(garage[:5]), idPattern=":1$")
    assert (status, [e["id"] for e in body]) == (200, [garage[1]])
