"""/v1/lots/{id}/berths follows the counts' rules: a silent berth or an offline lot is unknown."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.hub import (
    eventually,
    lot_feature,
    running_hub,
    store_registry,
    unique,
    write_registry,
)
from tests.integration.test_skeleton import publish, wait_applied

pytestmark = pytest.mark.integration


async def test_stale_berths_and_offline_lots_are_unknown(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    quiet, gated = unique("bq"), unique("bg")
    registry = write_registry(
        tmp_path / "r.geojson",
        [lot_feature(quiet, 120.0, 36.0, 3, heartbeat_s=1), lot_feature(gated, 120.001, 36.0, 3)],
    )
    await store_registry(redis_url, registry)
    async with running_hub(redis_url, mqtt_url) as hub:
        now = time.time_ns() // 1_000_000
        old = now - 60_000  # older than three heartbeats of 1 s
        await publish(
            mqtt_url,
            [
                (
                    f"{hub.prefix}/v1/lots/{quiet}/events",
                    {"berth": [0, 1], "occupied": [0, 1], "ts": [old, now]},
                ),
                (
                    f"{hub.prefix}/v1/lots/{gated}/events",
                    {"berth": [0, 1], "occupied": [0, 1], "ts": [now, now]},
                ),
            ],
        )
        await wait_applied(hub, quiet, 2)
        await wait_applied(hub, gated, 2)
        _, body = await hub.get(f"/v1/lots/{gated}/berths")
        assert body["states"] == "fou"
        # The fresh occupied report turns stale 3 s after its ts: then every berth is unknown.
        _, body = await eventually(
            lambda: hub.get(f"/v1/lots/{quiet}/berths"), lambda r: r[1]["states"] == "uuu"
        )
        assert (body["states"], body["unknown"]) == ("uuu", 3)

        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{gated}/status", {"online": False, "ts": now + 1})])
        _, body = await eventually(lambda: hub.get(f"/v1/lots/{gated}/berths"), lambda r: not r[1]["online"])
        assert (body["states"], body["free"], body["unknown"]) == ("uuu", 0, 3)
