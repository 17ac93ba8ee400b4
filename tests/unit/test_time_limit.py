"""The per-request time limit, on a real aiohttp server with handlers that never answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from parking_hub.api.access import Access
from parking_hub.api.cors import CorsPolicy
from parking_hub.api.guard import Guard
from parking_hub.api.http_metrics import HttpMetrics
from parking_hub.api.limits import TimeLimit
from parking_hub.embedded import free_port


async def never_answers(request: web.Request) -> web.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def streams(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    await asyncio.sleep(0.5)  # longer than the limit: streams are not timed
    await response.write(b"still here")
    return response


async def fails_with_its_own_timeout(request: web.Request) -> web.Response:
    raise TimeoutError


@asynccontextmanager
async def server() -> AsyncIterator[str]:
    time_limit = TimeLimit(0.2, untimed={streams})
    guard = Guard(HttpMetrics(CollectorRegistry()), time_limit, Access(), CorsPolicy.of(()), ngsi_ld=False)
    app = web.Application(middlewares=[guard.middleware])
    app.cleanup_ctx.append(time_limit.watchdog)
    app.router.add_get("/slow", never_answers)
    app.router.add_get("/stream", streams)
    app.router.add_get("/own-timeout", fails_with_its_own_timeout)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_handler_past_the_limit_is_answered_503_request_timeout() -> None:
    async with server() as base, aiohttp.ClientSession() as http:
        async with http.get(base + "/slow") as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "1"
            body = await resp.json()
        assert body["error"]["code"] == "request_timeout"
        async with http.get(base + "/stream") as resp:
            assert await resp.read() == b"still here"


async def test_a_timeout_the_handler_raised_itself_is_not_taken_for_the_limit() -> None:
    async with server() as base, aiohttp.ClientSession() as http, http.get(base + "/own-timeout") as resp:
        assert resp.status == 500
        assert (await resp.json())["error"]["code"] == "internal_error"
