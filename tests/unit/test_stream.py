"""/v1/stream over real HTTP, on a mirror the test moves by hand: snapshots, changes, resumption, limits."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from parking_hub.api.app import create_app
from parking_hub.api.schemas import LotCounts
from parking_hub.api.stream import StreamLimits, streams_key
from parking_hub.observe import Health
from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex
from parking_hub.query.live import LiveCity
from parking_hub.registry import Lot
from tests.sse import Event, events, next_event

NOW = 1_764_201_600_000


def lots(n: int) -> list[Lot]:
    return [
        Lot(f"lot-{i:04d}", f"Lot {i}", "op", "off_street", capacity=4, lat=36.0 + i * 1e-4, lon=120.0)
        for i in range(n)
    ]


class Mirror:
    def __init__(self, live: LiveCity, state: Availability) -> None:
        self.live, self.state = live, state

    def report(self, lot: int, berth: int, occupied: int, ts: int = NOW) -> None:
        """As if ingest had written a report and the mirror re-read the lot."""
        self.state.ranks[self.state.index.layout.offsets[lot] + berth] = ts * 2 + occupied
        self.state.recount(np.array([lot]), NOW)

    def announce(self) -> None:
        self.live.changes.publish()


@asynccontextmanager
async def served(n: int = 3, **limits: Any) -> AsyncIterator[tuple[TestClient[Any, Any], Mirror]]:
    health = Health(redis_ok=True, index_loaded=True)
    live = LiveCity(cast(Any, None))
    live.state = Availability(CityIndex.build(lots(n)))
    live.in_sync = True  # as after a read of the whole city from Redis
    mirror = Mirror(live, live.state)
    for lot in range(n):
        mirror.report(lot, 0, 0)
    app = create_app(live, health, CollectorRegistry(), stream_limits=StreamLimits(**limits))
    async with TestClient(TestServer(app)) as client:
        yield client, mirror


def counts(event: Event) -> tuple[str, int, int, int]:
    LotCounts.model_validate(event.data)
    return event.data["lot_id"], event.data["free"], event.data["occupied"], event.data["unknown"]


async def test_a_stream_opens_with_a_snapshot_then_sends_each_change() -> None:
    async with served() as (client, mirror):
        resp = await client.get("/v1/stream", params={"lots": "lot-0000,lot-0002"})
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        snapshot = await events(resp, 2)
        assert {e.name for e in snapshot} == {"availability"}
        assert [counts(e) for e in snapshot] == [("lot-0000", 1, 0, 3), ("lot-0002", 1, 0, 3)]
        mirror.report(1, 1, 1)  # a lot outside the stream
        mirror.report(2, 1, 1)
        mirror.announce()
        assert counts(await next_event(resp)) == ("lot-0002", 1, 1, 2)
        resp.close()


async def test_changes_to_one_lot_are_coalesced_to_its_latest_counts() -> None:
    async with served(min_interval_s=0.2) as (client, mirror):
        resp = await client.get("/v1/stream", params={"bbox": "119,35,121,37"})
        await events(resp, 3)
        for berth in range(4):
            mirror.report(0, berth, 1)
            mirror.announce()
        mirror.report(2, 3, 0)
        mirror.announce()
        got = [counts(e) for e in await events(resp, 2)]
        assert got == [("lot-0000", 0, 4, 0), ("lot-0002", 2, 0, 2)]
        resp.close()


async def test_resuming_with_last_event_id_sends_only_what_changed_since() -> None:
    async with served() as (client, mirror):
        resp = await client.get("/v1/stream", params={"lots": "lot-0000,lot-0001"})
        last = (await events(resp, 2))[-1].id
        resp.close()
        mirror.report(1, 2, 1)
        mirror.announce()
        resp = await client.get(
            "/v1/stream", params={"lots": "lot-0000,lot-0001"}, headers={"Last-Event-ID": last}
        )
        assert counts(await next_event(resp)) == ("lot-0001", 1, 1, 2)
        mirror.report(0, 3, 0)
        mirror.announce()
        assert counts(await next_event(resp)) == ("lot-0000", 2, 0, 2)
        resp.close()
        # An id from another process (or one restarted) gets the full snapshot.
        resp = await client.get(
            "/v1/stream", params={"lots": "lot-0000,lot-0001"}, headers={"Last-Event-ID": "feed:1"}
        )
        assert [counts(e)[0] for e in await events(resp, 2)] == ["lot-0000", "lot-0001"]
        resp.close()


async def test_concurrent_streams_are_limited() -> None:
    async with served(max_streams=2) as (client, _):
        open_streams = [await client.get("/v1/stream", params={"lots": "lot-0000"}) for _ in range(2)]
        for resp in open_streams:
            await next_event(resp)
        refused = await client.get("/v1/stream", params={"lots": "lot-0000"})
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "5"
        assert (await refused.json())["error"]["code"] == "too_many_streams"
        open_streams[0].close()
        for _ in range(100):  # the server notices the closed stream at its next write
            await asyncio.sleep(0.02)
            resp = await client.get("/v1/stream", params={"lots": "lot-0000"})
            if resp.status == 200:
                break
        assert resp.status == 200
        resp.close()
        open_streams[1].close()


async def test_a_stream_is_limited_in_lots() -> None:
    async with served(n=2001) as (client, _):
        resp = await client.get("/v1/stream", params={"bbox": "119,35,121,37"})
        assert resp.status == 400
        body = await resp.json()
        assert body["error"]["param"] == "bbox"
        assert "2001 lots" in body["error"]["message"]


async def test_a_client_that_stops_reading_is_cut_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="parking_hub.api.stream")
    async with served(n=2000, max_buffer_bytes=16 * 1024, write_timeout_s=0.5, min_interval_s=0.01) as (
        client,
        mirror,
    ):
        server = client.server
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((server.host, server.port))
            sock.sendall(b"GET /v1/stream?bbox=119,35,121,37 HTTP/1.1\r\nHost: test\r\n\r\n")
            streams = client.app[streams_key]
            for round_ in range(200):  # keep every lot changing until the server gives up on us
                for lot in range(2000):
                    mirror.report(lot, 1, round_ % 2, NOW + round_)
                mirror.announce()
                await asyncio.sleep(0.05)
                if round_ > 2 and not streams.tasks:
                    break
            assert not streams.tasks
        assert any("cut off" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("version", ["³", "٣", "1" * 5000, "-1", " 1", "", "1:2"])
async def test_a_malformed_last_event_id_gets_a_snapshot_and_frees_its_slot(version: str) -> None:
    async with served(max_streams=2, keepalive_s=0.05) as (client, mirror):
        streams = client.app[streams_key]
        last_event_id = f"{mirror.state.epoch}:{version}"
        for _ in range(5):  # more than the limit: each stream must give its slot back
            resp = await client.get(
                "/v1/stream", params={"lots": "lot-0000"}, headers={"Last-Event-ID": last_event_id}
            )
            assert resp.status == 200
            assert counts(await next_event(resp))[0] == "lot-0000"
            resp.close()
            for _ in range(100):  # the server notices the closed stream at its next keep-alive
                if not streams.tasks:
                    break
                await asyncio.sleep(0.02)
            assert not streams.tasks
        assert not streams.per_client


async def test_one_client_holds_at_most_its_share_of_the_streams() -> None:
    async with served(max_streams=10, max_streams_per_client=2) as (client, _):
        held = [await client.get("/v1/stream", params={"lots": "lot-0000"}) for _ in range(2)]
        refused = await client.get("/v1/stream", params={"lots": "lot-0000"})
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "5"
        error = (await refused.json())["error"]
        assert error["code"] == "too_many_streams"
        assert "this client" in error["message"]
        assert len(client.app[streams_key].tasks) == 2  # the server has room; this client has not
        for resp in held:
            resp.close()
