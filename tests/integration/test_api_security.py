"""API keys, rate limits and request limits, against a real hub with each setting on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from parking_hub.api.limits import MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES
from parking_hub.apikeys import new_key
from tests.integration.hub import Hub, running_hub

pytestmark = pytest.mark.integration

OPEN = ("/healthz", "/readyz", "/openapi.json", "/docs")
BURST = 5


async def get(hub: Hub, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with hub.http.get(hub.base_url + path, headers=headers) as resp:
        body = await resp.json(content_type=None) if resp.content_type == "application/json" else None
        return resp.status, resp.headers, body


class KeyedHub:
    def __init__(self, hub: Hub, keys: dict[str, str]) -> None:
        self.hub, self.keys = hub, keys


def key_file(path: Path, *key_ids: str) -> tuple[Path, dict[str, str]]:
    keys, lines = {}, []
    for key_id in key_ids:
        keys[key_id], line = new_key(key_id)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path, keys


@pytest.fixture
async def keyed_hub(servers: tuple[str, str], tmp_path: Path) -> AsyncIterator[KeyedHub]:
    path, keys = key_file(tmp_path / "keys", "app", "fleet")
    # One token every 1,000 s after the burst: the request after the burst is refused.
    async with running_hub(
        *servers, api_keys_file=str(path), rate_limit="0.001", rate_burst=str(BURST)
    ) as hub:
        yield KeyedHub(hub, keys)


async def test_data_and_metrics_need_a_key_and_the_rest_stays_open(keyed_hub: KeyedHub) -> None:
    hub = keyed_hub.hub
    for path in ("/v1/summary", "/metrics", "/ngsi-ld/v1/entities"):
        status, headers, body = await get(hub, path)
        assert status == 401, path
        assert headers["WWW-Authenticate"] == 'Bearer realm="parking-hub"'
        assert body["error"]["code"] == "unauthorized"
    status, headers, body = await get(hub, "/v1/summary", {"X-API-Key": keyed_hub.keys["app"] + "x"})
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="parking-hub", error="invalid_token"'
    assert body == {"error": {"code": "unauthorized", "message": "the API key is not valid"}}
    for path in OPEN:
        assert (await get(hub, path))[0] == 200, path


async def test_a_key_is_taken_as_bearer_token_or_x_api_key(keyed_hub: KeyedHub) -> None:
    hub, key = keyed_hub.hub, keyed_hub.keys["app"]
    assert (await get(keyed_hub.hub, "/v1/summary", {"Authorization": f"Bearer {key}"}))[0] == 200
    assert (await get(hub, "/v1/summary", {"X-API-Key": key}))[0] == 200
    assert (await get(hub, "/metrics", {"X-API-Key": key}))[0] == 200


async def test_each_key_has_its_own_bucket_and_a_spent_one_gets_429(keyed_hub: KeyedHub) -> None:
    hub = keyed_hub.hub
    app = {"X-API-Key": keyed_hub.keys["app"]}
    assert [(await get(hub, "/v1/summary", app))[0] for _ in range(BURST)] == [200] * BURST
    status, headers, body = await get(hub, "/v1/summary", app)
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 1000
    assert body["error"]["code"] == "rate_limited"
    assert (await get(hub, "/v1/summary", {"X-API-Key": keyed_hub.keys["fleet"]}))[0] == 200
    assert [(await get(hub, "/healthz"))[0] for _ in range(5)] == [200] * 5  # probes are never limited


async def test_requests_without_a_valid_key_spend_their_address_bucket(keyed_hub: KeyedHub) -> None:
    hub = keyed_hub.hub
    refused = [(await get(hub, "/v1/summary", {"X-API-Key": "guess"}))[0] for _ in range(BURST + 1)]
    assert refused == [401] * BURST + [429]
    assert (await get(hub, "/v1/summary", {"X-API-Key": keyed_hub.keys["app"]}))[0] == 200


async def test_the_description_names_the_keys_and_the_new_answers(keyed_hub: KeyedHub) -> None:
    _, _, spec = await get(keyed_hub.hub, "/openapi.json")
    validate(spec)
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    summary = spec["paths"]["/v1/summary"]["get"]
    assert {"401", "429"} <= set(summary["responses"])
    assert summary["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "rate limit" in spec["paths"]["/v1/stream"]["get"]["responses"]["429"]["description"]
    health = spec["paths"]["/healthz"]["get"]
    assert "security" not in health
    assert "401" not in health["responses"]


async def test_without_keys_the_rate_limit_is_per_address(servers: tuple[str, str]) -> None:
    async with running_hub(*servers, rate_limit="0.001", rate_burst="2") as hub:
        assert [(await get(hub, "/v1/summary"))[0] for _ in range(3)] == [200, 200, 429]
        _, _, spec = await get(hub, "/openapi.json")
        assert "securitySchemes" not in spec.get("components", {})
        assert "429" in spec["paths"]["/v1/summary"]["get"]["responses"]


async def raw_request(hub: Hub, request: bytes) -> bytes:
    host, port = hub.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()


async def test_oversized_urls_and_headers_get_400_and_the_hub_goes_on(servers: tuple[str, str]) -> None:
    async with running_hub(*servers) as hub:
        long_url = b"GET /v1/summary?x=" + b"a" * MAX_REQUEST_LINE_BYTES + b" HTTP/1.1\r\nHost: h\r\n\r\n"
        long_header = b"GET /v1/summary HTTP/1.1\r\nHost: h\r\nX-Long: " + b"a" * (MAX_HEADER_BYTES + 1)
        many = b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS + 1))
        too_many = b"GET /v1/summary HTTP/1.1\r\nHost: h\r\n" + many + b"\r\n"
        for request in (long_url, long_header + b"\r\n\r\n", too_many):
            answer = await raw_request(hub, request)
            assert answer.startswith((b"HTTP/1.0 400 ", b"HTTP/1.1 400 ")), answer[:80]
        status, _, _ = await get(hub, "/v1/summary")
        assert status == 200


async def test_browsers_may_send_keys_cross_origin(keyed_hub: KeyedHub) -> None:
    hub = keyed_hub.hub
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key, authorization",
    }
    async with hub.http.options(hub.base_url + "/v1/summary", headers=preflight) as resp:
        assert resp.status == 204  # preflights carry no key and are answered without one
        assert resp.headers["Access-Control-Allow-Headers"] == "x-api-key, authorization"
    headers = {"Origin": "https://app.example.com", "X-API-Key": keyed_hub.keys["app"]}
    async with hub.http.get(hub.base_url + "/v1/summary", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
