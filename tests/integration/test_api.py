"""The HTTP API as a client sees it, over a real hub fed through MQTT."""

from __future__ import annotations

import gzip
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from pydantic import BaseModel
from yarl import URL

from parking_hub.api.schemas import ErrorBody, LotBerths, LotDetail, LotsPage, NearestAnswer, Summary
from tests.integration.hub import (
    Hub,
    lot_feature,
    running_hub,
    store_registry,
    unique,
    write_registry,
)
from tests.integration.test_skeleton import publish, wait_applied

pytestmark = pytest.mark.integration

HERE = (36.0671, 120.3826)
BAYS = [[120.3830, 36.0675], [120.3831, 36.0676], [120.3832, 36.0677]]


def checked(model: type[BaseModel], body: Any) -> Any:
    """The body, after checking it has exactly the fields the OpenAPI description gives it."""
    model.model_validate(body)
    return body


class City:
    def __init__(self, hub: Hub, ids: dict[str, str]) -> None:
        self.hub, self.ids = hub, ids


@pytest.fixture(scope="module")
async def city(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[City]:
    """Three lots near HERE, in a private id space: a garage, a kerb with bays, and one 1.5 km away."""
    redis_url, mqtt_url = servers
    tag = unique("c")
    ids = {"garage": f"{tag}-a", "kerb": f"{tag}-b", "far": f"{tag}-c"}
    features = [
        lot_feature(ids["garage"], HERE[1], HERE[0], 6, features={"ev": [0, 1], "accessible": [5]}),
        lot_feature(ids["kerb"], 120.3829, 36.0674, 3, kind="on_street", berths=BAYS),
        lot_feature(ids["far"], HERE[1], HERE[0] + 0.0135, 2),
    ]
    path = write_registry(tmp_path_factory.mktemp("api") / "city.geojson", features)
    await store_registry(redis_url, path)
    async with running_hub(redis_url, mqtt_url) as hub:
        t = time.time_ns() // 1_000_000 - 1000
        frames = {
            ids["garage"]: {
                "berth": [0, 1, 2, 3, 4],
                "occupied": [0, 1, 0, 1, 0],
                "ts": [t] * 5,
            },  # 5 unknown
            ids["kerb"]: {"berth": [0, 1, 2], "occupied": [1, 0, 0], "ts": [t] * 3},
            ids["far"]: {"berth": [0, 1], "occupied": [0, 0], "ts": [t] * 2},
        }
        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{lot}/events", f) for lot, f in frames.items()])
        for lot, frame in frames.items():
            await wait_applied(hub, lot, len(frame["berth"]))
        yield City(hub, ids)


async def test_nearest_lots_answer_with_counts_free_berths_and_distance(city: City) -> None:
    status, body = await city.hub.get("/v1/nearest", lat=HERE[0], lon=HERE[1], radius_m=2000, limit=50)
    assert status == 200
    checked(NearestAnswer, body)
    mine = [r for r in body["results"] if r["lot_id"] in city.ids.values()]
    assert [r["lot_id"] for r in mine] == [city.ids["garage"], city.ids["kerb"], city.ids["far"]]
    garage = mine[0]
    assert (garage["free"], garage["occupied"], garage["unknown"], garage["capacity"]) == (3, 2, 1, 6)
    assert garage["free_berths"] == [0, 2, 4]
    assert garage["distance_m"] == 0.0
    assert 1499 < mine[2]["distance_m"] < 1503  # 0.0135 degrees of latitude is about 1501 m

    status, body = await city.hub.get("/v1/nearest", lat=HERE[0], lon=HERE[1], features="ev,accessible")
    assert status == 200
    assert city.ids["garage"] not in [r["lot_id"] for r in body["results"]]  # no berth has both
    status, body = await city.hub.get("/v1/nearest", lat=HERE[0], lon=HERE[1], features="ev", limit=50)
    ev = next(r for r in body["results"] if r["lot_id"] == city.ids["garage"])
    assert (ev["free"], ev["free_berths"]) == (1, [0])
    status, body = await city.hub.get("/v1/nearest", lat=HERE[0], lon=HERE[1], kind="on_street", limit=50)
    assert city.ids["kerb"] in [r["lot_id"] for r in body["results"]]
    assert city.ids["garage"] not in [r["lot_id"] for r in body["results"]]


async def test_nearest_berths_use_bay_coordinates(city: City) -> None:
    status, body = await city.hub.get(
        "/v1/nearest", lat=HERE[0], lon=HERE[1], level="berth", limit=50, radius_m=100
    )
    assert status == 200
    checked(NearestAnswer, body)
    mine = [
        (r["lot_id"], r["berth"], r["lat"], r["lon"])
        for r in body["results"]
        if r["lot_id"] in city.ids.values()
    ]
    garage, kerb = city.ids["garage"], city.ids["kerb"]
    # The garage's free berths are at its own point (distance 0); the kerb's free bays at theirs.
    assert mine == [
        (garage, 0, HERE[0], HERE[1]),
        (garage, 2, HERE[0], HERE[1]),
        (garage, 4, HERE[0], HERE[1]),
        (kerb, 1, BAYS[1][1], BAYS[1][0]),
        (kerb, 2, BAYS[2][1], BAYS[2][0]),
    ]


async def test_lot_detail_and_conditional_get(city: City) -> None:
    path = f"/v1/lots/{city.ids['garage']}"
    async with city.hub.http.get(city.hub.base_url + path) as resp:
        assert resp.status == 200
        body = checked(LotDetail, await resp.json())
        etag = resp.headers["ETag"]
    assert (body["free"], body["occupied"], body["unknown"]) == (3, 2, 1)
    assert body["features"]["ev"] == {"free": 1, "occupied": 1, "unknown": 0, "berths": [0, 1]}
    async with city.hub.http.get(city.hub.base_url + path, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
        assert await resp.read() == b""


async def test_lot_berths_give_each_berth_state_in_one_letter(city: City) -> None:
    path = f"/v1/lots/{city.ids['garage']}/berths"
    async with city.hub.http.get(city.hub.base_url + path) as resp:
        assert resp.status == 200
        body = checked(LotBerths, await resp.json())
        etag = resp.headers["ETag"]
    assert body["states"] == "fofofu"  # berth 5 never reported
    assert (body["free"], body["occupied"], body["unknown"], body["capacity"]) == (3, 2, 1, 6)
    async with city.hub.http.get(city.hub.base_url + path, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    status, body = await city.hub.get(f"/v1/lots/{city.ids['kerb']}/berths")
    assert (status, body["states"]) == (200, "off")
    status, body = await city.hub.get("/v1/lots/no-such-lot/berths")
    assert (status, checked(ErrorBody, body)["error"]["param"]) == (404, "lot_id")


async def test_lots_in_a_box_page_through_in_id_order(city: City) -> None:
    box = f"{HERE[1] - 0.01},{HERE[0] - 0.01},{HERE[1] + 0.01},{HERE[0] + 0.02}"
    seen: list[str] = []
    after: str | None = None
    while True:
        query: dict[str, Any] = {"bbox": box, "limit": 1} | ({"after": after} if after else {})
        status, body = await city.hub.get("/v1/lots", **query)
        assert status == 200
        checked(LotsPage, body)
        seen += [lot["lot_id"] for lot in body["lots"]]
        after = body["next_after"]
        if after is None:
            break
    mine = [lot_id for lot_id in seen if lot_id in city.ids.values()]
    assert mine == sorted(city.ids.values())
    assert seen == sorted(seen)


async def test_summary_counts_the_city(city: City) -> None:
    status, body = await city.hub.get("/v1/summary")
    assert status == 200
    checked(Summary, body)
    assert body["free"] + body["occupied"] + body["unknown"] == body["berths"]


BAD_REQUESTS = [
    ("/v1/nearest", {"lon": "120"}, "lat", "lat is required"),
    ("/v1/nearest", {"lat": "91", "lon": "120"}, "lat", "lat must be between -85.05112878 and 85.05112878"),
    ("/v1/nearest", {"lat": "nan", "lon": "120"}, "lat", "lat must be a number"),
    ("/v1/nearest", {"lat": "north", "lon": "120"}, "lat", "lat must be a number"),
    ("/v1/nearest", {"lat": "36", "lon": "180.5"}, "lon", "lon must be between -180 and 180"),
    ("/v1/nearest", {"lat": "36", "lon": "1e999"}, "lon", "lon must be a number"),
    ("/v1/nearest", {"lat": "36", "lon": "120", "limit": "0"}, "limit", "limit must be between 1 and 50"),
    ("/v1/nearest", {"lat": "36", "lon": "120", "limit": "51"}, "limit", "limit must be between 1 and 50"),
    ("/v1/nearest", {"lat": "36", "lon": "120", "limit": "2.5"}, "limit", "limit must be an integer"),
    (
        "/v1/nearest",
        {"lat": "36", "lon": "120", "radius_m": "0"},
        "radius_m",
        "radius_m must be between 1 and 50000",
    ),
    ("/v1/nearest", {"lat": "36", "lon": "120", "radius_m": "50001"}, "radius_m", None),
    ("/v1/nearest", {"lat": "36", "lon": "120", "min_free": "0"}, "min_free", None),
    ("/v1/nearest", {"lat": "36", "lon": "120", "features": "wifi"}, "features", None),
    ("/v1/nearest", {"lat": "36", "lon": "120", "features": "ev,"}, "features", None),
    (
        "/v1/nearest",
        {"lat": "36", "lon": "120", "kind": "garage"},
        "kind",
        "kind must be one of off_street or on_street",
    ),
    ("/v1/nearest", {"lat": "36", "lon": "120", "level": "street"}, "level", None),
    (
        "/v1/nearest",
        {"lat": "36", "lon": "120", "radius": "5"},
        "radius",
        "radius is not a parameter of this endpoint",
    ),
    ("/v1/nearest?lat=36&lat=37&lon=120", {}, "lat", "lat is given more than once"),
    ("/v1/lots", {}, "bbox", "bbox is required"),
    ("/v1/lots", {"bbox": "1,2,3"}, "bbox", "bbox must be four numbers: minLon,minLat,maxLon,maxLat"),
    ("/v1/lots", {"bbox": "1,2,3,x"}, "bbox", None),
    ("/v1/lots", {"bbox": "1,50,3,40"}, "bbox", "bbox minLat must not exceed maxLat"),
    ("/v1/lots", {"bbox": "1,2,200,4"}, "bbox", None),
    ("/v1/lots", {"bbox": "1,2,3,4", "limit": "5001"}, "limit", "limit must be between 1 and 5000"),
    ("/v1/lots", {"bbox": "1,2,3,4", "after": "NOT A LOT"}, "after", None),
    ("/v1/lots/Not-An-Id", {}, "lot_id", None),
    ("/v1/nearest", {"lat": "36", "lon": "120", "features": ""}, "features", None),
    (
        "/v1/nearest",
        {"lat": "36", "lon": "120", "features": "ev,ev"},
        "features",
        "features names a feature twice",
    ),
    ("/v1/summary", {"verbose": "1"}, "verbose", "verbose is not a parameter of this endpoint"),
    ("/v1/summary?x=1&x=2", {}, "x", "x is given more than once"),
    ("/v1/lots/any-lot", {"fields": "name"}, "fields", "fields is not a parameter of this endpoint"),
    ("/v1/lots/any-lot/berths", {"from": "0"}, "from", "from is not a parameter of this endpoint"),
    ("/healthz", {"full": "1"}, "full", None),
    ("/openapi.json", {"v": "3"}, "v", None),
    ("/", {"lang": "en"}, "lang", None),
    ("/v1/stream", {}, "bbox", "give either bbox or lots"),
    ("/v1/stream", {"lots": "a,,b"}, "lots", None),
    ("/v1/stream", {"bbox": "0,0,1,1", "lots": "a"}, "bbox", None),
]


@pytest.mark.parametrize(("path", "query", "param", "message"), BAD_REQUESTS)
async def test_bad_requests_get_400_naming_the_parameter(
    city: City, path: str, query: dict[str, str], param: str, message: str | None
) -> None:
    status, body = await city.hub.get(path, **query)
    assert status == 400, body
    checked(ErrorBody, body)
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["param"] == param
    if message is not None:
        assert body["error"]["message"] == message


async def test_unknown_things_get_404_and_wrong_methods_405(city: City) -> None:
    status, body = await city.hub.get("/v1/lots/no-such-lot")
    assert (status, checked(ErrorBody, body)["error"]["code"]) == (404, "not_found")
    status, body = await city.hub.get("/v1/stream", lots=f"{city.ids['garage']},no-such-lot")
    assert (status, body["error"]["param"]) == (404, "lots")
    status, body = await city.hub.get("/v2/nearest")
    assert (status, body["error"]["code"]) == (404, "not_found")
    async with city.hub.http.post(city.hub.base_url + "/v1/nearest", data=b"x") as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET,HEAD"
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_cors_lets_any_origin_read_by_default(city: City) -> None:
    origin = {"Origin": "https://maps.example.org"}
    async with city.hub.http.get(city.hub.base_url + "/v1/summary", headers=origin) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "ETag" in resp.headers["Access-Control-Expose-Headers"]
    preflight = origin | {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "last-event-id, x-evil",
    }
    async with city.hub.http.options(city.hub.base_url + "/v1/stream", headers=preflight) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Headers"] == "last-event-id"
        assert "GET" in resp.headers["Access-Control-Allow-Methods"]


async def test_cors_allow_list_names_origins(servers: tuple[str, str]) -> None:
    async with running_hub(*servers, cors_origins="https://app.example.com") as hub:
        async with hub.http.get(
            hub.base_url + "/healthz", headers={"Origin": "https://app.example.com"}
        ) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
            assert resp.headers["Vary"] == "Origin"
        async with hub.http.get(
            hub.base_url + "/healthz", headers={"Origin": "https://evil.example"}
        ) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_off_adds_no_headers_and_refuses_preflights_like_any_options(
    servers: tuple[str, str],
) -> None:
    origin = {"Origin": "https://app.example.com"}
    async with running_hub(*servers, cors_origins="none") as hub:
        async with hub.http.get(hub.base_url + "/healthz", headers=origin) as resp:
            assert resp.status == 200
            assert not [h for h in resp.headers if h.startswith("Access-Control-") or h == "Vary"]
        preflight = origin | {"Access-Control-Request-Method": "GET"}
        async with hub.http.options(hub.base_url + "/v1/summary", headers=preflight) as resp:
            assert resp.status == 405
            assert (await resp.json())["error"]["code"] == "method_not_allowed"
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_large_answers_are_gzipped(city: City) -> None:
    async with city.hub.http.get(
        city.hub.base_url + "/openapi.json", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    ) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert orjson.loads(gzip.decompress(await resp.read()))["openapi"] == "3.1.0"
    async with city.hub.http.get(city.hub.base_url + "/docs") as resp:
        page = await resp.text()
        assert resp.headers["Content-Type"].startswith("text/html")
    for path in ("/v1/nearest", "/v1/lots/{lot_id}", "/v1/stream", "/healthz"):
        assert f"GET {path}" in page


async def test_nothing_a_client_sends_gets_a_500(city: City) -> None:
    """Odd bytes in every place a client controls: each answer is a 4xx error body, never a 500."""
    raw = ["%00", "%ff%fe", "' OR 1=1", "../../etc", "9" * 400, "-0", "0x10", "1_0", "+5", " 5", "∞", ""]
    for value in raw:
        for path in (
            "/v1/nearest?lat={v}&lon={v}&limit={v}",
            "/v1/lots?bbox={v}",
            "/v1/lots/{v}",
            "/v1/lots/{v}/berths",
            "/v1/stream?lots={v}",
        ):
            url = city.hub.base_url + path.format(v=quote(value, safe="%"))
            async with city.hub.http.get(URL(url, encoded=True)) as resp:
                assert resp.status < 500, (url, resp.status)
                if resp.status >= 400:
                    checked(ErrorBody, await resp.json())
