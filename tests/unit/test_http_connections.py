"""The API's connections on a real socket: the header deadline, the connection cap and the parser's
refusals, served by `listening` as the hub serves them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import pytest
from aiohttp import web

from parking_hub.api.limits import MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES
from parking_hub.api.listener import ConnectionLimits, listening
from parking_hub.embedded import free_port

TIMEOUT_S = 0.5
MANY_HEADERS = b"".join(b"X-%d: QQQQ\r\n" % i for i in range(MAX_HEADERS + 1))


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2 * TIMEOUT_S)  # the deadline is for headers, not for answers
    return web.Response(text="done")


@asynccontextmanager
async def server(max_connections: int = 100) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    try:
        async with listening(runner, "127.0.0.1", port, ConnectionLimits(max_connections, TIMEOUT_S)):
            yield port
    finally:
        await runner.cleanup()


async def answer_to(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def json_error(answer: bytes) -> tuple[int, dict[str, str], dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, orjson.loads(body)["error"]


async def trickle(port: int, data: bytes, every_s: float) -> float:
    """Sends data a byte at a time until the server closes the connection: how long that took."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every_s)
        assert await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        pass
    finally:
        writer.close()
    return time.monotonic() - started


async def test_a_client_trickling_its_headers_is_cut_off_at_the_deadline() -> None:
    async with server() as port:
        took = await trickle(port, b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: " + b"a" * 100, 0.05)
        assert TIMEOUT_S <= took < TIMEOUT_S + 0.5
        # Meanwhile and afterwards, a client that sends its request at once is answered.
        assert (await answer_to(port, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")).endswith(
            b"hello"
        )


async def test_a_silent_connection_is_closed_at_the_deadline() -> None:
    async with server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert TIMEOUT_S <= time.monotonic() - started < TIMEOUT_S + 0.5
        writer.close()


async def test_the_deadline_is_for_headers_and_restarts_with_each_request() -> None:
    async with server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
            assert (await asyncio.wait_for(reader.readuntil(b"done"), 5)).startswith(b"HTTP/1.1 200")
            await asyncio.sleep(TIMEOUT_S / 2)  # idle on a kept-alive connection: no deadline
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert (await asyncio.wait_for(reader.readuntil(b"hello"), 5)).startswith(b"HTTP/1.1 200")
            writer.write(b"GET / HTTP/1.1\r\n")  # a third request that never ends its headers
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            assert TIMEOUT_S <= time.monotonic() - started < TIMEOUT_S + 0.5
        finally:
            writer.close()


async def test_connections_past_the_cap_are_answered_503_until_one_closes() -> None:
    async with server(max_connections=2) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.05)
        status, headers, error = json_error(await answer_to(port, b""))
        assert (status, error["code"]) == (503, "too_many_connections")
        assert headers["Retry-After"] == "5"
        held[0][1].close()
        await asyncio.sleep(0.05)
        assert (await answer_to(port, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")).endswith(
            b"hello"
        )
        held[1][1].close()


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /?x=" + b"Q" * MAX_REQUEST_LINE_BYTES + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + b"Q" * MAX_HEADER_BYTES + b"\r\n\r\n",
            431,
            "header_too_large",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\n" + MANY_HEADERS,
            431,
            "too_many_headers",
        ),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX-\xffQQQQ: 1\r\n\r\n", 400, "bad_request"),
        (b"QQQQ\r\n\r\n", 400, "bad_request"),
    ],
    ids=["url", "header", "headers", "header-name", "garbage"],
)
async def test_the_parsers_refusals_are_json_and_never_quote_the_request(
    request_bytes: bytes, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with server() as port:
        answer = await answer_to(port, request_bytes)
    got_status, headers, error = json_error(answer)
    assert (got_status, error["code"]) == (status, code)
    assert headers["Content-Type"] == "application/json"
    assert headers["Server"] == "parking-hub"
    assert b"QQQQ" not in answer
    assert "QQQQ" not in caplog.text
    server_lines = [r for r in caplog.records if r.name in ("aiohttp.server", "parking_hub.api.listener")]
    assert [(r.levelname, r.exc_info) for r in server_lines] == [("INFO", None)]


async def test_a_too_long_ngsi_ld_request_line_gets_problem_details() -> None:
    """Under /ngsi-ld/, even the parser's refusal answers as NGSI-LD clients expect errors."""
    long_line = (
        b"GET /ngsi-ld/v1/entities?q=" + b"Q" * MAX_REQUEST_LINE_BYTES + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    async with server() as port:
        answer = await answer_to(port, long_line)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"414"
    assert b"Content-Type: application/json" in head
    assert orjson.loads(body) == {
        "type": "about:blank",
        "title": "Request-URI Too Long",
        "status": 414,
        "detail": f"the request line is over {MAX_REQUEST_LINE_BYTES} bytes",
    }
