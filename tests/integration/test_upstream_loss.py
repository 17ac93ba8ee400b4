"""Loss that heals (contract 7.4): a broker that drops messages for the hub, as a stock Mosquitto
does past `max_queued_messages`, loses nothing for good. The hub finds each gateway's `seq` gap,
counts it, asks the gateway to resync, and the simulator's gateways answer: `verify` passes."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest

from parking_hub.embedded import free_port, managed_process
from tests.integration.hub import Hub, eventually, running_hub, unique
from tests.integration.test_simulator import city, sim

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs mosquitto"),
]

# Mosquitto's defaults, but for a queue small enough to overflow in a few seconds of traffic
# (the stock limit is 1,000) and $SYS figures every second (the stock interval is 10 s).
DROPPING_BROKER = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 50
sys_interval 1
"""


async def metric(hub: Hub, name: str) -> float:
    async with hub.http.get(hub.base_url + "/metrics") as resp:
        match = re.search(rf"^{name} (\S+)$", await resp.text(), re.MULTILINE)
    assert match is not None, name
    return float(match.group(1))


async def test_frames_a_broker_dropped_are_found_by_seq_and_healed_by_resync(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / "broker.conf").write_text(DROPPING_BROKER.format(port=port))
    mosquitto = shutil.which("mosquitto")
    assert mosquitto is not None
    registry_file = await city(tmp_path, lots=10, berths=800)
    truth_file = tmp_path / "truth.npz"
    broker = f"mqtt://127.0.0.1:{port}"
    hub_args = {"lots": str(registry_file), "client_id": unique("hub"), "topic_prefix": unique("loss")}
    with managed_process([mosquitto, "-c", str(tmp_path / "broker.conf")], port, "broker", tmp_path):
        traffic = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sensors_sim", "run", "--lots", str(registry_file),
            "--mqtt-url", broker, "--topic-prefix", hub_args["topic_prefix"], "--format", "native",
            "--speed", "2400", "--duration", "24", "--seed", "4", "--truth", str(truth_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        async with running_hub(redis_url, broker, **hub_args) as hub:
            await eventually(lambda: hub.get("/v1/summary"), lambda r: r[1]["events_applied"] > 0, 20)
        # The hub is gone for a while: its persistent session queues 50 messages and the broker
        # drops the rest, acknowledged to the gateways all the same.
        await asyncio.sleep(5)
        async with running_hub(redis_url, broker, **hub_args) as hub:
            out, _ = await asyncio.wait_for(traffic.communicate(), 120)
            assert traffic.returncode == 0, out.decode()
            answered = re.search(r"resync: answered (\d+) requests", out.decode())
            assert answered is not None, out.decode()
            assert int(answered.group(1)) > 0, out.decode()
            assert await metric(hub, "parking_hub_ingest_seq_gaps_total") > 0
            assert await metric(hub, "parking_hub_broker_dropped_messages") > 0
            code, report = await sim(
                "verify", "--lots", str(registry_file), "--hub", hub.base_url, "--truth", str(truth_file)
            )
            assert code == 0, report + out.decode()
