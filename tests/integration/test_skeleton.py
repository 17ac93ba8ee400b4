"""One event from a gateway to a navigation app, through a real broker, Redis and HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
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

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def load(redis_url: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parking_hub", "lots", "load", "--redis-url", redis_url, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def publish(mqtt_url: str, messages: list[tuple[str, Any]]) -> None:
    target = MqttTarget.from_url(mqtt_url)
    async with aiomqtt.Client(target.host, target.port, identifier=unique("gw")) as client:  # MQTT 3.1.1
        for topic, body in messages:
            payload = body if isinstance(body, bytes) else orjson.dumps(body)
            await client.publish(topic, payload, qos=1)


async def lot_state(hub: Hub, lot_id: str) -> dict[str, Any]:
    status, body = await hub.get(f"/v1/lots/{lot_id}")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def wait_applied(hub: Hub, lot_id: str, count: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        return await lot_state(hub, lot_id)

    body = await eventually(probe, lambda b: b["events_applied"] >= count)
    assert body["events_applied"] == count, body
    return body


async def test_frames_in_any_order_end_in_the_order_rule_state(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    lot_id = unique("lot")
    registry = write_registry(
        tmp_path / "lots.geojson",
        [lot_feature(lot_id, 120.3826, 36.0671, 6, features={"ev": [0, 1], "accessible": [5]})],
    )
    result = load(redis_url, registry)
    assert result.returncode == 0, result.stderr
    assert "loaded 1 lots, 6 berths" in result.stdout

    async with running_hub(redis_url, mqtt_url) as hub:
        t = now_ms() - 10_000
        topic = f"{hub.prefix}/v1/lots/{lot_id}/events"
        frames = [
            # berth 0: occupied at t+2 wins over the later-arriving free report at t+1
            {"gateway": "gw-1", "seq": 2, "berth": [0, 1], "occupied": [1, 1], "ts": [t + 2, t + 2]},
            {
                "gateway": "gw-1",
                "seq": 1,
                "berth": [0, 1, 2],
                "occupied": [0, 0, 0],
                "ts": [t + 1, t + 1, t + 1],
            },
            # a duplicate of the first frame changes nothing
            {"gateway": "gw-1", "seq": 2, "berth": [0, 1], "occupied": [1, 1], "ts": [t + 2, t + 2]},
            # same ts on berth 3: the greater (ts, occupied) pair, occupied, wins whatever the order
            {"berth": [3, 3, 4], "occupied": [True, False, False], "ts": [t + 5, t + 5, t + 6]},
            # berth 1 freed later
            {"berth": [1], "occupied": [0], "ts": [t + 9]},
        ]
        await publish(mqtt_url, [(topic, frame) for frame in frames])
        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{lot_id}/berths/5", {"occupied": 0, "ts": t + 3})])
        body = await wait_applied(hub, lot_id, 2 + 3 + 2 + 3 + 1 + 1)

        # berth: 0 occupied, 1 free, 2 free, 3 occupied, 4 free, 5 free
        assert (body["free"], body["occupied"], body["unknown"]) == (4, 2, 0)
        assert body["features"]["ev"] == {"free": 1, "occupied": 1, "unknown": 0, "berths": [0, 1]}
        assert body["features"]["accessible"]["free"] == 1
        assert body["online"] is True
        assert body["capacity"] == 6
        assert body["updated_at"] is not None

        redis = redis_client(redis_url)
        try:
            bits = [await redis.getbit(f"parking:{{{lot_id}}}:occ", i) for i in range(6)]
        finally:
            await redis.aclose()
        assert bits == [1, 0, 0, 1, 0, 0]

        status, near = await hub.get("/v1/nearest", lat=36.0671, lon=120.3836, radius_m=500, limit=50)
        assert status == 200
        mine = [r for r in near["results"] if r["lot_id"] == lot_id]
        assert len(mine) == 1
        assert mine[0]["free"] == 4
        assert mine[0]["free_berths"] == [1, 2, 4, 5]
        assert 85 < mine[0]["distance_m"] < 95  # 0.001 degree of longitude at 36.07 N is about 89.9 m

        status, near_ev = await hub.get(
            "/v1/nearest", lat=36.0671, lon=120.3836, radius_m=500, limit=50, features="ev", min_free=2
        )
        assert status == 200
        assert lot_id not in [r["lot_id"] for r in near_ev["results"]]


async def test_bad_messages_are_rejected_on_the_errors_topic_and_good_events_still_apply(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    lot_id = unique("lot")
    assert (
        load(redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 4)])).returncode
        == 0
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        target = MqttTarget.from_url(mqtt_url)
        errors: list[dict[str, Any]] = []
        async with aiomqtt.Client(target.host, target.port, identifier=unique("watch")) as watcher:
            await watcher.subscribe(f"{hub.prefix}/v1/#", qos=1)
            t = now_ms()
            base = f"{hub.prefix}/v1/lots"
            await publish(
                mqtt_url,
                [
                    (f"{base}/{lot_id}/events", b"{not json"),
                    (f"{base}/no-such-lot/events", {"berth": [0], "occupied": [1], "ts": [t]}),
                    (f"{base}/{lot_id}/events", {"berth": [0, 9, 1], "occupied": [1, 1, 1], "ts": [t, t, t]}),
                    (f"{base}/{lot_id}/events", {"berth": [2], "occupied": [1], "ts": [t + 3_600_000]}),
                    (f"{base}/{lot_id}/events", {"berth": [0, 1], "occupied": [1], "ts": [t, t]}),
                ],
            )

            async def collect() -> None:
                async for message in watcher.messages:
                    if str(message.topic).endswith("errors"):
                        errors.append({**orjson.loads(message.payload), "on": str(message.topic)})
                        if len(errors) == 5:
                            return

            await asyncio.wait_for(collect(), 10)

        codes = sorted(e["code"] for e in errors)
        assert codes == [
            "berth_out_of_range",
            "invalid_json",
            "length_mismatch",
            "ts_in_future",
            "unknown_lot",
        ]
        unknown = next(e for e in errors if e["code"] == "unknown_lot")
        assert unknown["on"] == f"{hub.prefix}/v1/lots/no-such-lot/errors"
        assert unknown["topic"] == f"{hub.prefix}/v1/lots/no-such-lot/events"
        assert all(e["message"] and e["ts"] > 0 for e in errors)

        body = await wait_applied(hub, lot_id, 2)
        assert (body["occupied"], body["unknown"]) == (2, 2)
        _, summary = await hub.get("/v1/summary")
        assert summary["events_rejected"] >= 5


def test_a_device_stays_with_one_lot_across_registry_files(redis_url: str, tmp_path: Path) -> None:
    first, second, device = unique("lot"), unique("lot"), unique("dev")
    a = write_registry(tmp_path / "a.json", [lot_feature(first, 120.0, 36.0, 2, devices={device: 0})])
    b = write_registry(tmp_path / "b.json", [lot_feature(second, 120.1, 36.0, 2, devices={device: 1})])
    assert load(redis_url, a).returncode == 0
    refused = load(redis_url, b)
    assert refused.returncode == 1
    assert f"devices.{device}: is already bound to lot {first!r}" in refused.stderr
    assert load(redis_url, a).returncode == 0  # loading the same file again is still fine

    write_registry(a, [lot_feature(first, 120.0, 36.0, 2)])
    assert load(redis_url, a).returncode == 0
    moved = load(redis_url, b)
    assert moved.returncode == 0, moved.stderr
