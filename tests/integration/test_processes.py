"""Real `parking-hub serve` processes: what each role loads, and API workers sharing one port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from parking_hub.embedded import mqtt_broker, redis_server
from tests.integration.hub import HubProcess, eventually, lot_feature, unique, write_registry
from tests.integration.test_skeleton import load, now_ms, publish

pytestmark = pytest.mark.integration

COMPILED_SEARCH = "llvmlite"  # numba's LLVM binding: a shared object in the maps of a process that loaded it


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    workdir = tmp_path_factory.mktemp("processes")
    with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
        yield redis_url, mqtt_url


def maps_compiled_search(pid: int) -> bool:
    return COMPILED_SEARCH in Path(f"/proc/{pid}/maps").read_text()


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def test_an_ingest_process_never_loads_the_compiled_search(
    servers: tuple[str, str], tmp_path: Path
) -> None:
    redis_url, mqtt_url = servers
    lot_id = unique("lot")
    registry = write_registry(tmp_path / "lots.geojson", [lot_feature(lot_id, 120.3826, 36.0671, 4)])
    assert load(redis_url, registry).returncode == 0
    common = {"redis-url": redis_url, "mqtt-url": mqtt_url, "topic-prefix": unique("t")}
    ingest = HubProcess("ingest", common | {"client-id": unique("ingest")}, tmp_path / "ingest.log")
    api = HubProcess("api", common, tmp_path / "api.log")
    try:
        await ingest.start()
        await api.start()
        async with aiohttp.ClientSession() as http:

            async def both_ready() -> bool:
                return await ingest.ready(http) and await api.ready(http)

            assert await eventually(both_ready, bool, within=60), ingest.log.read_text()[-1500:]
            topic = f"{common['topic-prefix']}/v1/lots/{lot_id}/events"
            await publish(
                mqtt_url, [(topic, {"berth": [0, 1, 2, 3], "occupied": [1, 0, 0, 0], "ts": [now_ms()] * 4})]
            )

            async def nearest() -> list[str]:
                params = {"lat": "36.0671", "lon": "120.3826", "min_free": "3"}
                async with http.get(api.url + "/v1/nearest", params=params) as resp:
                    return [r["lot_id"] for r in (await resp.json())["results"]]

            # The ingest process applied the event (the lot has 3 free berths now), and the API
            # process has searched.
            assert await eventually(nearest, lambda ids: ids == [lot_id], within=30) == [lot_id]
        assert ingest.proc is not None
        assert api.proc is not None
        assert maps_compiled_search(api.proc.pid)  # the check can tell
        assert not maps_compiled_search(ingest.proc.pid)
    finally:
        await ingest.stop()
        await api.stop()


async def test_api_workers_share_the_port_and_stop_together(servers: tuple[str, str], tmp_path: Path) -> None:
    redis_url, mqtt_url = servers
    workers = HubProcess(
        "api", {"redis-url": redis_url, "mqtt-url": mqtt_url, "workers": "2"}, tmp_path / "api.log"
    )
    await workers.start()
    assert workers.proc is not None
    requests = 40
    try:
        # A connection per request, so the kernel picks a worker for each.
        fresh = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=fresh) as http:

            async def serving() -> bool:
                listening = workers.log.read_text().count("serving role api") == 2
                return listening and await workers.ready(http)

            assert await eventually(serving, bool, within=60), workers.log.read_text()[-1500:]
            assert len(children(workers.proc.pid)) == 2
            for _ in range(requests):
                async with http.get(workers.url + "/healthz") as resp:
                    assert resp.status == 200
            # Each worker counts only what it answered. A worker's first scrape shows no /metrics
            # series yet, so the first scrapes tell the workers apart, and their /healthz counts
            # add up to every request sent.
            firsts = []
            for _ in range(40):
                async with http.get(workers.url + "/metrics") as resp:
                    counts = dict(
                        re.findall(
                            r'^parking_hub_http_requests_total\{route="([^"]+)",status="200"\} (\S+)$',
                            await resp.text(),
                            re.MULTILINE,
                        )
                    )
                if "/metrics" not in counts:
                    firsts.append(float(counts["/healthz"]))
            assert len(firsts) == 2, firsts
            assert sum(firsts) == requests
        pids = children(workers.proc.pid)
        workers.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(workers.proc.wait(), 30) == 0
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert workers.log.read_text().count("parking_hub.service: stopped") == 2
    finally:
        await workers.stop()
