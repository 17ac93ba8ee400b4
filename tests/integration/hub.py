"""Helpers that drive a real hub the way an outside client would: MQTT in, HTTP and Redis out."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from parking_hub.config import RedisTarget, build_settings
from parking_hub.embedded import free_port
from parking_hub.registry import parse_registry
from parking_hub.service import serve
from parking_hub.store.connection import RedisClient, client_for
from parking_hub.store.lots import save_lots
from tests.registry_check import registry_bytes

T = TypeVar("T")

# For modules that test the HTTP surface over the mirror (NGSI-LD, feeds, lot facts, the OpenAPI
# fuzzing): the servers behind it are the same code whatever their flavour, and test_api, test_ingest
# and the others already run on all three, so these run on the first flavour only.
FIRST_FLAVOUR_ONLY = pytest.mark.parametrize("servers", ["path"], indirect=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def redis_client(redis_url: str) -> RedisClient:
    """A client for the test servers' URL, standalone or cluster; the caller closes it."""
    return client_for(RedisTarget.from_url(redis_url))


async def store_registry(redis_url: str, path: Path) -> None:
    """A registry file straight into Redis, as `parking-hub lots load` stores it."""
    redis = redis_client(redis_url)
    try:
        await save_lots(redis, parse_registry(await asyncio.to_thread(path.read_bytes)))
    finally:
        await redis.aclose()


def lot_feature(lot_id: str, lon: float, lat: float, capacity: int, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "id": lot_id,
            "name": f"Lot {lot_id}",
            "kind": "off_street",
            "capacity": capacity,
            **props,
        },
    }


def write_registry(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_bytes(registry_bytes(features))
    return path


class Hub:
    def __init__(self, base_url: str, prefix: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.prefix = prefix
        self.http = session

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.http.get(self.base_url + path, params=params) as resp:
            return resp.status, await resp.json(content_type=None)


@asynccontextmanager
async def running_hub(redis_url: str, mqtt_url: str, **overrides: str) -> AsyncIterator[Hub]:
    """A hub in this event loop, on a free port, with its own topic prefix and client id."""
    port = free_port()
    prefix = overrides.pop("topic_prefix", unique("t"))
    values = {
        "redis-url": redis_url,
        "mqtt-url": mqtt_url,
        "http": f"127.0.0.1:{port}",
        "lots": "",
        "client-id": unique("hub"),
        "topic-prefix": prefix,
        "role": "all",
    } | {k.replace("_", "-"): v for k, v in overrides.items()}
    started = asyncio.Event()
    task = asyncio.create_task(serve(build_settings(values), started))
    try:
        await asyncio.wait_for(started.wait(), 10)
        async with aiohttp.ClientSession() as session:
            hub = Hub(f"http://127.0.0.1:{port}", prefix, session)
            await eventually(lambda: hub.get("/readyz"), lambda r: r[0] == 200)
            yield hub
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 10.0) -> T:
    """Polls until done(result) or `within` seconds pass; returns the last result for the assert."""
    deadline = time.monotonic() + within
    result = await probe()
    while not done(result) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        result = await probe()
    return result


class HubProcess:
    """`python -m parking_hub serve` as its own process, logging to a file."""

    def __init__(self, role: str, settings: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.args = ["serve", "--role", role, "--http", f"127.0.0.1:{self.port}"]
        self.args += [arg for name, value in settings.items() for arg in (f"--{name}", value)]
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "parking_hub", *self.args, stdout=out, stderr=out
            )

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await self.proc.wait()

    async def ready(self, http: aiohttp.ClientSession) -> bool:
        try:
            async with http.get(self.url + "/readyz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False
