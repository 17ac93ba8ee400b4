"""Many stream clients on a real hub: every one sees each lot's change, fed through MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import aiohttp
import pytest

from parking_hub.api.stream import StreamLimits
from tests.integration.hub import (
    eventually,
    lot_feature,
    running_hub,
    store_registry,
    unique,
    write_registry,
)
from tests.integration.test_skeleton import publish
from tests.sse import events, next_event

pytestmark = pytest.mark.integration

CLIENTS = 200


async def test_two_hundred_streams_each_get_every_change(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    a, b = unique("sa"), unique("sb")
    registry = write_registry(
        tmp_path / "r.geojson", [lot_feature(a, 120.0, 36.0, 4), lot_feature(b, 120.001, 36.0, 4)]
    )
    await store_registry(redis_url, registry)
    async with running_hub(redis_url, mqtt_url) as hub:
        await eventually(lambda: hub.get(f"/v1/lots/{b}"), lambda r: r[0] == 200)
        # From as many loopback addresses as one address's share of the streams requires.
        per_address = StreamLimits().max_streams_per_client
        addresses = [f"127.0.0.{1 + i // per_address}" for i in range(CLIENTS)]
        async with contextlib.AsyncExitStack() as stack:
            sessions = {
                address: await stack.enter_async_context(
                    aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(address, 0)))
                )
                for address in set(addresses)
            }
            streams = await asyncio.gather(
                *(
                    sessions[address].get(hub.base_url + "/v1/stream", params={"lots": f"{a},{b}"})
                    for address in addresses
                )
            )
            try:
                assert {s.status for s in streams} == {200}
                snapshots = await asyncio.gather(*(events(s, 2) for s in streams))
                assert all([e.data["lot_id"] for e in snap] == sorted([a, b]) for snap in snapshots)
                assert all(e.data["unknown"] == 4 for snap in snapshots for e in snap)

                t = time.time_ns() // 1_000_000
                frame = {"berth": [0, 1, 2], "occupied": [0, 0, 1], "ts": [t, t, t]}
                await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{b}/events", frame)])
                changes = await asyncio.wait_for(asyncio.gather(*(next_event(s) for s in streams)), 30)
                assert {
                    (e.data["lot_id"], e.data["free"], e.data["occupied"], e.data["unknown"]) for e in changes
                } == {(b, 2, 1, 1)}
                assert len({e.id for e in changes}) == 1  # one version of the mirror, seen by all
            finally:
                for s in streams:
                    s.close()
