"""Scale-out on a Redis Cluster: two ingest processes share the MQTT stream, two API processes serve it.

Faulty simulator traffic flows while one ingest process is killed with SIGKILL and started again
under its client id, as a supervisor would; `sensors-sim verify` must then agree with both API
processes. Every process is a real one, started as an operator starts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from parking_hub.embedded import mqtt_broker
from parking_hub.embedded_cluster import redis_cluster
from sensors_sim.registry import load_registry
from sensors_sim.truth import Truth
from tests.integration.hub import HubProcess, eventually, unique
from tests.integration.test_simulator import city, sim
from tests.integration.test_skeleton import load

pytestmark = pytest.mark.integration

SHARE_GROUP = "ingest"


@pytest.fixture(scope="module")
def cluster_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A 3-primary Redis Cluster and a broker that supports shared subscriptions (Mosquitto)."""
    workdir = tmp_path_factory.mktemp("scale-out")
    with redis_cluster(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
        if "protocol=3.1.1" in mqtt_url:
            pytest.skip("needs mosquitto on PATH: the embedded amqtt broker has no shared subscriptions")
        yield redis_url, mqtt_url


@asynccontextmanager
async def started(processes: list[HubProcess]) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for process in processes:
            stack.push_async_callback(process.stop)
            await process.start()
        yield


async def events_won(http: aiohttp.ClientSession, hub: HubProcess) -> float:
    """The process's own count of reports that won (parking_hub_ingest_events_total{result="won"})."""
    async with http.get(hub.url + "/metrics") as resp:
        text = await resp.text()
    line = 'parking_hub_ingest_events_total{result="won"} '
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


async def summary(http: aiohttp.ClientSession, hub: HubProcess) -> dict[str, int]:
    async with http.get(hub.url + "/v1/summary") as resp:
        body: dict[str, int] = await resp.json()
        return body


async def test_two_ingest_and_two_api_processes_on_a_cluster_survive_a_killed_ingest(
    cluster_servers: tuple[str, str], tmp_path: Path
) -> None:
    redis_url, mqtt_url = cluster_servers
    registry_file = await city(tmp_path, lots=12, berths=900)
    assert load(redis_url, registry_file).returncode == 0
    prefix = unique("t")
    common = {"redis-url": redis_url, "mqtt-url": mqtt_url, "topic-prefix": prefix}
    ingest = [
        HubProcess("ingest", common | {"share-group": SHARE_GROUP, "client-id": unique(f"ingest{k}")}, log)
        for k, log in enumerate([tmp_path / "ingest0.log", tmp_path / "ingest1.log"])
    ]
    api = [HubProcess("api", common, tmp_path / f"api{k}.log") for k in range(2)]
    truth_file = tmp_path / "truth.npz"
    async with started([*ingest, *api]), aiohttp.ClientSession() as http:

        async def all_ready() -> bool:
            return all([await p.ready(http) for p in (*ingest, *api)])

        assert await eventually(all_ready, bool, within=60), [p.log.read_text()[-1500:] for p in ingest]
        run = asyncio.create_task(
            sim(
                "run", "--lots", str(registry_file), "--mqtt-url", mqtt_url, "--topic-prefix", prefix,
                "--hub", api[0].url, "--format", "native,per-berth", "--faults", "all",
                "--speed", "max", "--hours", "24", "--seed", "11", "--truth", str(truth_file),
            )
        )  # fmt: skip
        applied = await eventually(
            lambda: summary(http, api[1]), lambda s: s["events_applied"] > 2_000, within=60
        )
        assert applied["events_applied"] > 2_000, applied
        assert not run.done(), "the run ended before an ingest process could be killed mid-way"
        shares = [await events_won(http, p) for p in ingest]
        assert all(share > 0 for share in shares), shares  # both take a share of the stream
        await ingest[0].kill()  # some of its batches written but not acknowledged
        await asyncio.sleep(1)
        await ingest[0].start()  # its supervisor starts it again, under the same client id
        code, out = await run
        assert code == 0, out
        for hub in api:
            code, out = await sim(
                "verify", "--lots", str(registry_file), "--hub", hub.url, "--truth", str(truth_file),
                "--wait", "60",
            )  # fmt: skip
            assert code == 0, f"{hub.url}: {out}"
        # Each event went to one process of the group, bar the redeliveries after the kill (the
        # counters are at least once); without the shared subscription each would count twice.
        delivered = Truth.load(truth_file, load_registry(registry_file)).delivered
        applied = await summary(http, api[0])
        assert delivered <= applied["events_applied"] < 1.5 * delivered, (delivered, applied)
