"""Lag that tells the truth (contract 7.5): while ingest can not keep up, the lag metric grows and
/readyz says so; once it has applied everything, both recover by themselves."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from pathlib import Path

import pytest

from parking_hub.config import MqttTarget
from tests.integration.hub import (
    Hub,
    eventually,
    lot_feature,
    redis_client,
    running_hub,
    unique,
    write_registry,
)
from tests.integration.test_skeleton import load, lot_state

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="needs mosquitto_pub"),
]

MESSAGES = 30_000
STALL_S = 7


async def lag_s(hub: Hub) -> float:
    async with hub.http.get(hub.base_url + "/metrics") as resp:
        match = re.search(r"^parking_hub_ingest_lag_seconds (\S+)$", await resp.text(), re.MULTILINE)
    assert match is not None
    return float(match.group(1))


async def test_a_stalled_hub_reports_its_lag_and_recovers(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    if redis_url.startswith("redis+cluster"):
        pytest.skip("CLIENT PAUSE stalls one node of a cluster, not necessarily the lot's")
    lot_id = unique("lag")
    registry = write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 1000)])
    assert load(redis_url, registry).returncode == 0
    target = MqttTarget.from_url(mqtt_url)
    async with running_hub(redis_url, mqtt_url) as hub:
        assert await lag_s(hub) < 1
        redis = redis_client(redis_url)
        await redis.execute_command("CLIENT", "PAUSE", str(STALL_S * 1000), "WRITE")  # reads go on
        await redis.aclose()
        stalled_until = time.monotonic() + STALL_S
        t = time.time_ns() // 1_000_000 - 60_000
        lines = b"".join(b'{"occupied": %d, "ts": %d}\n' % (k % 2, t + k) for k in range(MESSAGES))
        publisher = await asyncio.create_subprocess_exec(
            "mosquitto_pub", "-h", target.host, "-p", str(target.port), "-q", "1", "-l",
            "-t", f"{hub.prefix}/v1/lots/{lot_id}/berths/7", stdin=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await _watch_and_recover(hub, lot_id, publisher, lines, stalled_until)
        finally:
            if publisher.returncode is None:
                publisher.kill()
                await publisher.wait()


async def _watch_and_recover(
    hub: Hub, lot_id: str, publisher: asyncio.subprocess.Process, lines: bytes, stalled_until: float
) -> None:
    assert publisher.stdin is not None
    publisher.stdin.write(lines)
    max_lag, reasons = 0.0, set()
    while time.monotonic() < stalled_until:  # Redis takes no writes: nothing can be applied
        max_lag = max(max_lag, await lag_s(hub))
        status, body = await hub.get("/readyz")
        if status == 503:
            reasons.update(body["reasons"])
        await asyncio.sleep(0.2)
    assert max_lag >= 5, max_lag
    assert any(reason.startswith("ingest lags") for reason in reasons), reasons
    await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == MESSAGES, 60)
    publisher.stdin.close()
    await publisher.wait()
    # Applied and idle: the lag falls back without any new traffic.
    assert await eventually(lambda: lag_s(hub), lambda lag: lag < 1, 10) < 1
    assert (await hub.get("/readyz"))[0] == 200
