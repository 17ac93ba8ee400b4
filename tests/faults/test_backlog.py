"""A hub that comes back to a large backlog in its persistent session takes it all in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from redis.asyncio import Redis

from parking_hub.store import redis_keys
from sensors_sim.hubapi import Hub, wait_ready
from sensors_sim.publish import MqttUrl, Publisher
from tests.faults.servers import (
    GATEWAY_USER,
    HUB_USER,
    HubProcess,
    deploy_mosquitto,
    deploy_redis,
    missing_programs,
    mqtt_url,
    redis_url,
)
from tests.integration.hub import eventually, lot_feature, write_registry
from tests.integration.test_skeleton import load

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(missing_programs()), reason=f"needs {', '.join(missing_programs())} (.ci/debian-packages)"
    ),
]

LOTS, CAPACITY, ROUNDS = 20, 1_000, 3  # 60,000 single-berth messages


@pytest.mark.timeout(600)
async def test_a_restarted_hub_takes_in_a_backlog_larger_than_its_receive_maximum(tmp_path: Path) -> None:
    """After a SIGKILL with messages in flight, Mosquitto sends a resumed session's backlog ahead of
    the SUBACKs, past the Receive Maximum. (On a loaded machine the fault harness's big mode saw
    the hub's SUBACKs time out behind it, over and over; this smaller case does not reproduce that
    by itself on every machine, but checks the backlog all lands.)"""
    lot_ids = [f"backlog-{i:02d}" for i in range(LOTS)]
    registry = write_registry(tmp_path / "r.json", [lot_feature(i, 120.0, 36.0, CAPACITY) for i in lot_ids])
    with deploy_redis(tmp_path / "redis") as redis, deploy_mosquitto(tmp_path / "mqtt") as broker:
        assert load(redis_url(redis), registry).returncode == 0
        hub = HubProcess(
            redis_url(redis), mqtt_url(broker, HUB_USER), "backlog-hub", "parking", tmp_path / "hub.log"
        )
        await hub.start()
        try:
            async with Hub(hub.base_url) as api:
                await wait_ready(api, 120)  # subscribed: the broker queues for the session from here
            t = time.time_ns() // 1_000_000 - 600_000
            messages = [
                (
                    f"parking/v1/lots/{lot}/berths/{berth}",
                    orjson.dumps({"occupied": (r + berth) % 2, "ts": t + r}),
                )
                for r in range(ROUNDS)
                for lot in lot_ids
                for berth in range(CAPACITY)
            ]
            store = Redis.from_url(redis_url(redis))

            async def applied() -> int:
                counts = await asyncio.gather(
                    *(store.hget(redis_keys.meta(lot), "applied") for lot in lot_ids)
                )
                return sum(int(c or 0) for c in counts)

            async with Publisher(MqttUrl.parse(mqtt_url(broker, GATEWAY_USER))) as publisher:
                sending = asyncio.create_task(publisher.publish(messages))
                # Killed mid-stream, with messages in flight to it: the broker then resends them,
                # and everything queued meanwhile, at once when the session resumes.
                await eventually(applied, lambda n: n > 1_000, within=120)
                await hub.kill()
                assert await sending == len(messages)
            await hub.start()
            try:
                total = await eventually(applied, lambda n: n >= len(messages), within=300)
                assert total >= len(messages), hub.log_tail()
                want = (t + ROUNDS - 1) * 2 + (np.arange(CAPACITY) + ROUNDS - 1) % 2
                for lot in lot_ids:
                    raw = await store.get(redis_keys.reports(lot))
                    assert isinstance(raw, bytes)
                    assert np.frombuffer(raw, dtype=">i8").tolist() == want.tolist()
            finally:
                await store.aclose()
        finally:
            await hub.stop()
