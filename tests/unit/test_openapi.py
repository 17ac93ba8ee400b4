"""/openapi.json describes exactly the routes the app serves, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry

from parking_hub.api.app import create_app
from parking_hub.observe import Health
from parking_hub.query.live import LiveCity


def app(*, serve_api: bool) -> web.Application:
    health = Health(redis_ok=True, index_loaded=False)
    # A mirror that never connects: these tests need the routes, not the city.
    live = LiveCity(cast(Any, None)) if serve_api else None
    return create_app(live, health, CollectorRegistry())


async def described(application: web.Application) -> tuple[set[tuple[str, str]], dict[str, Any]]:
    async with TestClient(TestServer(application)) as client:
        resp = await client.get("/openapi.json")
        assert resp.status == 200
        spec: dict[str, Any] = await resp.json()
    operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    return operations, spec


def routed(application: web.Application) -> set[tuple[str, str]]:
    # aiohttp adds HEAD beside every GET by itself; HEAD answers as GET does, without the body.
    return {
        (route.method, route.resource.canonical)
        for route in application.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


@pytest.mark.parametrize("serve_api", [True, False], ids=["api", "ingest-only"])
async def test_every_route_is_described_and_every_description_is_routed(serve_api: bool) -> None:
    application = app(serve_api=serve_api)
    operations, spec = await described(application)
    assert operations == routed(application)
    validate(spec)
    for path, item in spec["paths"].items():
        for operation in item.values():
            assert operation["summary"], path
            # NGSI-LD answers errors as NGSI-LD clients expect them: problem details.
            error_body = "ProblemDetails" if path.startswith("/ngsi-ld/") else "ErrorBody"
            for status, answer in operation["responses"].items():
                if status not in ("200", "304") and path != "/readyz":  # /readyz 503 carries its reasons
                    assert answer["content"]["application/json"]["schema"] == {
                        "$ref": f"#/components/schemas/{error_body}"
                    }, (path, status)


async def test_a_route_added_without_a_description_is_caught() -> None:
    """The check above is not vacuous: a route registered behind the table's back shows up."""
    application = app(serve_api=True)

    async def debug(request: web.Request) -> web.Response:
        return web.Response(text="")

    application.router.add_get("/debug", debug)
    operations, _ = await described(application)
    assert routed(application) - operations == {("GET", "/debug")}


async def test_v1_answers_503_until_the_index_is_loaded() -> None:
    async with TestClient(TestServer(app(serve_api=True))) as client:
        for path in ("/v1/nearest?lat=36&lon=120", "/v1/summary", "/v1/lots/x", "/v1/lots?bbox=0,0,1,1"):
            resp = await client.get(path)
            assert resp.status == 503, path
            assert (await resp.json())["error"]["code"] == "unavailable"
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["reasons"] == ["the lot index has not been loaded from redis yet"]


def test_parameters_carry_the_contract_limits() -> None:
    application = app(serve_api=True)
    from parking_hub.api.openapi import spec_key

    spec = application[spec_key]
    params = {p["name"]: p for p in spec["paths"]["/v1/nearest"]["get"]["parameters"]}
    assert params["lat"]["required"] is True
    assert (params["lat"]["schema"]["minimum"], params["lat"]["schema"]["maximum"]) == (
        -85.05112878,
        85.05112878,
    )
    assert (params["limit"]["schema"]["default"], params["limit"]["schema"]["maximum"]) == (5, 50)
    assert (params["radius_m"]["schema"]["minimum"], params["radius_m"]["schema"]["maximum"]) == (1, 50000)
    assert params["level"]["schema"]["enum"] == ["lot", "berth"]
    assert params["kind"]["schema"]["enum"] == ["off_street", "on_street"]
