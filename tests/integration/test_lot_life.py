"""A lot's whole life through the CLI: loaded, reporting, removed or pruned, gone from a running hub."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parking_hub.store import redis_keys
from tests.integration.hub import (
    Hub,
    eventually,
    lot_feature,
    redis_client,
    running_hub,
    unique,
    write_registry,
)
from tests.integration.test_skeleton import load, now_ms, publish, wait_applied

pytestmark = pytest.mark.integration


def lots(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parking_hub", "lots", *args, "--redis-url", redis_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def keys_of(redis_url: str, lot_id: str) -> list[bytes]:
    """Every key under the lot's hash tag, and its entry in the lot index."""
    redis = redis_client(redis_url)
    try:
        tagged = [key async for key in redis.scan_iter(match=f"{redis_keys.ROOT}:{{{lot_id}}}:*")]
        indexed = await redis.sismember(redis_keys.lot_index(redis_keys.shard_of(lot_id)), lot_id)
    finally:
        await redis.aclose()
    return [*tagged, *([b"index"] if indexed else [])]


async def gone(hub: Hub, lot_id: str) -> bool:
    status, _ = await hub.get(f"/v1/lots/{lot_id}")
    return status == 404


async def report(hub: Hub, mqtt_url: str, lot_id: str) -> None:
    await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{lot_id}/berths/0", {"occupied": 1, "ts": now_ms()})])
    await wait_applied(hub, lot_id, 1)


async def test_a_removed_lot_leaves_redis_and_the_running_hub_at_once(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    lot_id, kept, device = unique("lot"), unique("lot"), unique("dev")
    registry = write_registry(
        tmp_path / "r.json",
        [lot_feature(lot_id, 120.0, 36.0, 2, devices={device: 0}), lot_feature(kept, 120.1, 36.0, 2)],
    )
    assert load(redis_url, registry).returncode == 0
    async with running_hub(redis_url, mqtt_url) as hub:
        await report(hub, mqtt_url, lot_id)
        assert await keys_of(redis_url, lot_id)

        removed = lots(redis_url, "remove", lot_id)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout == f"removed lot {lot_id}\n"
        assert await eventually(lambda: gone(hub, lot_id), bool, within=2.0)
        assert await keys_of(redis_url, lot_id) == []
        status, page = await hub.get("/v1/lots", bbox="119.9,35.9,120.2,36.1", limit="5000")
        assert status == 200
        listed = {lot["lot_id"] for lot in page["lots"]}
        assert kept in listed
        assert lot_id not in listed

    # Its device is free again: another lot may claim it.
    other = write_registry(
        tmp_path / "o.json", [lot_feature(unique("lot"), 120.2, 36.0, 1, devices={device: 0})]
    )
    assert load(redis_url, other).returncode == 0


async def test_a_lot_loaded_into_a_running_hub_is_served_and_its_devices_heard(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    """The registry notice reaches both halves of the process: the API serves the new lot, and
    ingest applies its berths' events and the uplinks of its LoRaWAN device."""
    lot_id, device = unique("lot"), unique("dev")
    async with running_hub(redis_url, mqtt_url) as hub:
        features = [lot_feature(lot_id, 120.0, 36.0, 2, devices={device: {"berth": 1, "codec": "bosch-pls"}})]
        assert load(redis_url, write_registry(tmp_path / "r.json", features)).returncode == 0
        assert (await eventually(lambda: hub.get(f"/v1/lots/{lot_id}"), lambda r: r[0] == 200))[0] == 200

        received_at = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        uplink = {  # Bosch PLS, port 1: occupied
            "end_device_ids": {"device_id": device},
            "received_at": received_at,
            "uplink_message": {"f_port": 1, "f_cnt": 1, "frm_payload": "AQ=="},
        }
        berth_0 = (f"{hub.prefix}/v1/lots/{lot_id}/berths/0", {"occupied": 1, "ts": now_ms()})
        await publish(mqtt_url, [berth_0, (f"v3/parking/devices/{device}/up", uplink)])
        state = await wait_applied(hub, lot_id, 2)
        assert (state["occupied"], state["free"]) == (2, 0)


def test_removing_a_lot_that_is_not_registered_says_so(redis_url: str) -> None:
    missing = unique("lot")
    result = lots(redis_url, "remove", missing)
    assert result.returncode == 1
    assert result.stderr == f"parking-hub: no lot {missing!r} in the registry\n"


async def test_prune_removes_the_operators_lots_no_longer_listed(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    operator, neighbour = unique("op"), unique("op")
    stays, dropped, others = unique("lot"), unique("lot"), unique("lot")

    def feature(lot_id: str, owner: str) -> dict[str, Any]:
        return lot_feature(lot_id, 120.0, 36.0, 2, operator=owner)

    assert load(redis_url, write_registry(tmp_path / "n.json", [feature(others, neighbour)])).returncode == 0
    registry = tmp_path / "r.json"
    assert (
        load(
            redis_url, write_registry(registry, [feature(stays, operator), feature(dropped, operator)])
        ).returncode
        == 0
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        await report(hub, mqtt_url, dropped)

        write_registry(registry, [feature(stays, operator)])
        pruned = lots(redis_url, "load", "--prune", str(registry))
        assert pruned.returncode == 0, pruned.stderr
        assert pruned.stdout.splitlines()[-1] == (
            f"pruned 1 lots of operator(s) {operator} no longer listed: {dropped}"
        )
        assert await eventually(lambda: gone(hub, dropped), bool, within=2.0)
        assert await keys_of(redis_url, dropped) == []
        for lot_id in (stays, others):
            status, _ = await hub.get(f"/v1/lots/{lot_id}")
            assert status == 200, lot_id


async def test_prune_removes_nothing_when_a_file_is_refused(redis_url: str, tmp_path: Path) -> None:
    operator, lot_id = unique("op"), unique("lot")

    def registry(name: str, capacity: int) -> str:
        feature = lot_feature(
            unique("lot") if name != "first" else lot_id, 120.0, 36.0, capacity, operator=operator
        )
        return str(write_registry(tmp_path / f"{name}.json", [feature]))

    assert load(redis_url, Path(registry("first", 1))).returncode == 0
    result = lots(redis_url, "load", "--prune", registry("second", 1), registry("bad", 0))
    assert result.returncode == 1
    assert "parking-hub: nothing pruned: a file was refused" in result.stderr
    assert await keys_of(redis_url, lot_id)  # without the refusal, the prune would have removed it
