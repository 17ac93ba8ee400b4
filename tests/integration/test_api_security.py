"""API keys, rate limits and request limits, against a real hub with each setting on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from openapi_spec_validator import validate

from parking_hub.api.limits import HEADER_TIMEOUT_S, MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES
from parking_hub.api.stream import StreamLimits
from parking_hub.credentials import new_key
from tests.integration.hub import Hub, running_hub

pytestmark = pytest.mark.integration

OPEN = ("/healthz", "/readyz", "/openapi.json", "/docs")
BURST = 8


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
        if path.startswith("/ngsi-ld/"):  # NGSI-LD clients parse problem details, this error too
            assert (body["type"], body["status"]) == ("about:blank", 401)
        else:
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
    async with running_hub(*servers, rate_limit="0.001", rate_burst="3") as hub:
        _, _, spec = await get(hub, "/openapi.json")  # the description is rate limited too
        assert "securitySchemes" not in spec.get("components", {})
        assert "429" in spec["paths"]["/v1/summary"]["get"]["responses"]
        assert "429" in spec["paths"]["/openapi.json"]["get"]["responses"]
        assert "429" not in spec["paths"]["/healthz"]["get"]["responses"]
        assert [(await get(hub, "/v1/summary"))[0] for _ in range(3)] == [200, 200, 429]


async def raw_request(hub: Hub, request: bytes) -> bytes:
    host, port = hub.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()


async def raw_status(hub: Hub, request: bytes) -> int:
    """The status of the answer to a request sent byte for byte, without waiting for its body."""
    host, port = hub.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        return int((await asyncio.wait_for(reader.readline(), 10)).split()[1])
    finally:
        writer.close()


async def test_oversized_urls_and_headers_get_json_that_quotes_nothing(
    servers: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = b"Q" * (MAX_HEADER_BYTES + 1)
    async with running_hub(*servers) as hub:
        long_url = b"GET /v1/summary?x=" + secret + b" HTTP/1.1\r\nHost: h\r\n\r\n"
        long_key = b"GET /v1/summary HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + secret + b"\r\n\r\n"
        many = b"".join(b"X-%d: QQQQ\r\n" % i for i in range(MAX_HEADERS + 1))
        too_many = b"GET /v1/summary HTTP/1.1\r\nHost: h\r\n" + many + b"\r\n"
        assert len(long_url) > MAX_REQUEST_LINE_BYTES
        for request, status, code in (
            (long_url, 414, "uri_too_long"),
            (long_key, 431, "header_too_large"),
            (too_many, 431, "too_many_headers"),
        ):
            answer = await raw_request(hub, request)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.split()[1] == b"%d" % status, head
            assert b"Server: parking-hub\r\n" in head
            assert orjson.loads(body)["error"]["code"] == code
            assert b"QQQQ" not in answer
        assert "QQQQ" not in caplog.text
        status, _, _ = await get(hub, "/v1/summary")
        assert status == 200


async def test_a_client_sending_headers_a_byte_a_second_is_cut_off(servers: tuple[str, str]) -> None:
    async with running_hub(*servers) as hub:
        host, port = hub.base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        started = time.monotonic()
        request = b"GET /v1/summary HTTP/1.1\r\nHost: h\r\nX-Slow: " + b"a" * 100
        try:
            for byte in request:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)
                if reader.at_eof():
                    break  # the server closed the connection
        except ConnectionResetError:
            pass
        finally:
            writer.close()
        assert reader.at_eof()
        assert HEADER_TIMEOUT_S - 1 <= time.monotonic() - started <= HEADER_TIMEOUT_S + 2
        assert (await get(hub, "/v1/summary"))[0] == 200


async def test_0xff_in_any_header_never_fails_and_is_rate_limited(keyed_hub: KeyedHub) -> None:
    hub, key = keyed_hub.hub, keyed_hub.keys["app"].encode()
    junk = b"\xff\xfe\xff"
    paths = [b"/v1/summary", b"/v1/stream?bbox=0,0,1,1", b"/ngsi-ld/v1/entities?type=OffStreetParking"]
    paths += [b"/metrics", b"/", b"/static/dashboard.js", b"/openapi.json", b"/nope"]
    others = b"".join(
        b"%s: %s\r\n" % (name, junk)
        for name in (b"Last-Event-ID", b"Origin", b"If-None-Match", b"Accept", b"Accept-Encoding", b"Cookie")
    )

    def request(path: bytes, key_headers: bytes) -> bytes:
        return b"GET %s HTTP/1.1\r\nHost: h\r\n%s%s\r\n" % (path, key_headers, others)

    # With a valid key, junk in every other header is answered as any unusable value is
    # (NGSI-LD's 406 is for an Accept that allows no JSON); the key's bucket holds all eight.
    keyed = [await raw_status(hub, request(path, b"X-API-Key: %s\r\n" % key)) for path in paths]
    assert keyed == [200, 200, 406, 200, 200, 200, 200, 404]
    # A junk key is no key: 401 where one is needed, and the address's bucket is spent like any other.
    for key_headers in (b"X-API-Key: " + junk + b"\r\n", b"Authorization: Bearer " + junk + b"\r\n"):
        assert await raw_status(hub, request(b"/v1/summary", key_headers)) in (401, 429)
    statuses = [
        await raw_status(hub, request(b"/v1/summary", b"X-API-Key: " + junk + b"\r\n")) for _ in range(BURST)
    ]
    assert statuses[-1] == 429
    assert set(statuses) <= {401, 429}
    assert (await get(hub, "/v1/summary", {"X-API-Key": keyed_hub.keys["fleet"]}))[0] == 200


async def test_open_paths_404s_405s_and_preflights_are_rate_limited(keyed_hub: KeyedHub) -> None:
    hub = keyed_hub.hub
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    statuses = []
    for method, path, headers in [
        *(("GET", p, {}) for p in ("/openapi.json", "/docs", "/", "/static/dashboard.js", "/nope")),
        ("POST", "/v1/summary", {}),
        ("OPTIONS", "/v1/summary", preflight),
        ("GET", "/docs", {}),
        ("GET", "/docs", {}),
    ]:
        async with hub.http.request(method, hub.base_url + path, headers=headers) as resp:
            statuses.append(resp.status)
    assert statuses == [200, 200, 200, 200, 404, 405, 204, 200, 429]
    assert [(await get(hub, p))[0] for p in ("/healthz", "/readyz")] == [200, 200]  # probes never are


async def test_keyed_answers_are_private_and_every_answer_hides_the_version(keyed_hub: KeyedHub) -> None:
    hub = keyed_hub.hub
    _, headers, _ = await get(hub, "/v1/summary", {"X-API-Key": keyed_hub.keys["app"]})
    assert headers["Cache-Control"] == "private, max-age=1"
    _, headers, _ = await get(hub, "/openapi.json")
    assert headers["Cache-Control"] == "public, max-age=300"
    for path in ("/v1/summary", "/", "/nope"):
        _, headers, _ = await get(hub, path)
        assert headers["Server"] == "parking-hub"
        assert headers["X-Content-Type-Options"] == "nosniff"
    _, headers, _ = await get(hub, "/")
    assert "script-src 'self'" in headers["Content-Security-Policy"]


async def test_malformed_last_event_ids_leave_streams_open_for_others(servers: tuple[str, str]) -> None:
    per_client = StreamLimits().max_streams_per_client
    async with running_hub(*servers) as hub:
        url = hub.base_url + "/v1/stream"
        seen = set()
        for i in range(1010):
            last_event_id = ["x:³", "x:1", f"{'9' * 5000}", ":", "\u00b3" * 10][i % 5]
            async with hub.http.get(
                url, params={"bbox": "0,0,1,1"}, headers={"Last-Event-ID": last_event_id}
            ) as resp:
                seen.add(resp.status)
        # Streams linger until the server next writes to them (a keep-alive); by then this address
        # holds its share of the slots and is refused, but no other client is.
        assert seen == {200, 429}
        other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with (
            aiohttp.ClientSession(connector=other) as session,
            session.get(url, params={"bbox": "0,0,1,1"}) as resp,
        ):
            assert resp.status == 200
        async with hub.http.get(url, params={"bbox": "0,0,1,1"}) as resp:
            assert resp.status == 429
            assert f"{per_client} streams" in (await resp.json())["error"]["message"]


async def test_one_key_holds_at_most_its_share_of_the_streams(
    servers: tuple[str, str], tmp_path: Path
) -> None:
    per_client = StreamLimits().max_streams_per_client
    path, keys = key_file(tmp_path / "keys", "app", "fleet")
    async with running_hub(*servers, api_keys_file=str(path)) as hub:
        url = hub.base_url + "/v1/stream"
        app = {"X-API-Key": keys["app"]}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            held = [
                await session.get(url, params={"bbox": "0,0,1,1"}, headers=app) for _ in range(per_client)
            ]
            try:
                assert {resp.status for resp in held} == {200}
                async with session.get(url, params={"bbox": "0,0,1,1"}, headers=app) as resp:
                    assert resp.status == 429
                fleet = {"X-API-Key": keys["fleet"]}
                async with session.get(url, params={"bbox": "0,0,1,1"}, headers=fleet) as resp:
                    assert resp.status == 200
            finally:
                for resp in held:
                    resp.close()


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
