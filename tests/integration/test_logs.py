"""A hub asked for JSON logs writes only JSON lines, and traffic does not add a line per message."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from parking_hub.embedded import free_port
from tests.integration.hub import eventually, lot_feature, unique, write_registry
from tests.integration.test_skeleton import load, now_ms, publish

pytestmark = pytest.mark.integration

MESSAGES = 300  # a third of them rejected


async def test_json_logs_have_no_line_per_message(redis_url: str, mqtt_url: str, tmp_path: Path) -> None:
    lot_id, prefix = unique("log"), unique("t")
    assert (
        load(
            redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, MESSAGES)])
        ).returncode
        == 0
    )
    port = free_port()
    env = os.environ | {
        "PARKING_HUB_LOG_FORMAT": "json",
        "PARKING_HUB_REDIS_URL": redis_url,
        "PARKING_HUB_MQTT_URL": mqtt_url,
        "PARKING_HUB_HTTP": f"127.0.0.1:{port}",
        "PARKING_HUB_TOPIC_PREFIX": prefix,
        "PARKING_HUB_CLIENT_ID": unique("hub"),
    }
    log = tmp_path / "hub.log"
    with log.open("wb") as out:
        hub = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "parking_hub", "serve", env=env, stdout=out, stderr=out
        )
    try:
        async with aiohttp.ClientSession() as http:

            async def counters() -> dict[str, int]:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/v1/lots/{lot_id}") as resp:
                        body = await resp.json() if resp.status == 200 else {}
                except aiohttp.ClientConnectionError:
                    return {}
                return {k: body[k] for k in ("events_applied", "events_rejected") if k in body}

            async def readyz() -> int:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        return resp.status
                except aiohttp.ClientConnectionError:
                    return 0

            await eventually(counters, lambda c: "events_applied" in c, within=30)
            # Ready means subscribed: a message published before would reach no one.
            assert await eventually(readyz, lambda status: status == 200, within=30) == 200
            base = f"{prefix}/v1/lots/{lot_id}"
            t = now_ms()
            messages = [
                (f"{base}/berths/{i}", {"occupied": i % 2, "ts": t} if i % 3 else b"not json")
                for i in range(MESSAGES)
            ]
            await publish(mqtt_url, messages)
            valid = sum(1 for i in range(MESSAGES) if i % 3)
            expected = {"events_applied": valid, "events_rejected": MESSAGES - valid}
            done = await eventually(
                counters, lambda c: all(c.get(k, 0) >= n for k, n in expected.items()), within=60
            )
            assert done == expected
    finally:
        hub.send_signal(signal.SIGTERM)
        await asyncio.wait_for(hub.wait(), 30)

    lines = log.read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "message"} <= record.keys() for record in records)
    messages_logged = [record["message"] for record in records]
    assert any(m.startswith("serving role all") for m in messages_logged)
    assert messages_logged[-1] == "stopped"
    # Start-up, connection and shutdown lines only: nothing per message, valid or rejected.
    assert len(records) < 15, messages_logged
