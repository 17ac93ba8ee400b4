"""The simulator against a real hub: faulty traffic in, `verify` agrees with the hub's state.

The simulator runs as its own process, as users run it: it speaks MQTT to the broker and HTTP to
the hub, never Python to parking_hub.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from parking_hub.config import parse_mqtt_url
from sensors_sim.registry import load_registry
from sensors_sim.truth import Truth
from tests.integration.hub import Hub, eventually, running_hub, unique

pytestmark = pytest.mark.integration


async def sim(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sensors_sim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def city(tmp_path: Path, lots: int, berths: int) -> Path:
    path = tmp_path / "city.geojson"
    code, out = await sim(
        "city",
        "-o",
        str(path),
        "--lots",
        str(lots),
        "--berths",
        str(berths),
        "--seed",
        "3",
        "--prefix",
        unique("sim"),
    )
    assert code == 0, out
    return path


async def lot_totals(hub: Hub, lot_ids: list[str]) -> tuple[int, int]:
    """Events applied and rejected over the given lots, as the hub counts them."""
    applied = rejected = 0
    for lot_id in lot_ids:
        status, body = await hub.get(f"/v1/lots/{lot_id}")
        assert status == 200, body
        applied += body["events_applied"]
        rejected += body["events_rejected"]
    return applied, rejected


async def test_faulty_gateway_and_sensor_traffic_ends_in_the_state_verify_expects(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    registry_file = await city(tmp_path, lots=10, berths=800)
    registry = load_registry(registry_file)
    truth_file = tmp_path / "truth.npz"
    broker = mqtt_url.partition("?")[0]
    async with running_hub(redis_url, mqtt_url, lots=str(registry_file)) as hub:
        code, out = await sim(
            "run", "--lots", str(registry_file), "--mqtt-url", broker, "--topic-prefix", hub.prefix,
            "--hub", hub.base_url, "--format", "native,per-berth", "--faults", "all",
            "--speed", "max", "--hours", "24", "--seed", "5", "--truth", str(truth_file), "--report",
        )  # fmt: skip
        assert code == 0, out
        incidents = dict(re.findall(r"(duplicate|lost|malformed|reorder|flap|gateway outages) (\d+)", out))
        assert set(incidents) == {"duplicate", "lost", "malformed", "reorder", "flap", "gateway outages"}, out
        assert all(int(n) > 0 for n in incidents.values()), out

        code, out = await sim(
            "verify", "--lots", str(registry_file), "--hub", hub.base_url, "--truth", str(truth_file)
        )
        assert code == 0, out
        assert f"match: all 10 lots, {registry.berths:,} berths" in out

        truth = Truth.load(truth_file, registry)
        assert truth.rejected > 0
        assert await lot_totals(hub, registry.lot_ids) == (truth.delivered, truth.rejected)

        # A report the simulator did not deliver: verify must notice it.
        lot_id = registry.lot_ids[0]
        berth = 0
        occupied = 1 - int(truth.rank[berth] & 1)
        target = parse_mqtt_url(mqtt_url)
        async with aiomqtt.Client(target.host, target.port, identifier=unique("rogue")) as client:
            topic = f"{hub.prefix}/v1/lots/{lot_id}/berths/{berth}"
            await client.publish(
                topic, orjson.dumps({"occupied": occupied, "ts": time.time_ns() // 1_000_000}), qos=1
            )
        await eventually(lambda: lot_totals(hub, registry.lot_ids), lambda t: t[0] == truth.delivered + 1)
        code, out = await sim(
            "verify",
            "--lots",
            str(registry_file),
            "--hub",
            hub.base_url,
            "--truth",
            str(truth_file),
            "--wait",
            "0",
        )
        assert code == 1, out
        assert "MISMATCH in 1 of 10 lots" in out
        assert f"{lot_id}: free: hub" in out


async def test_load_reports_what_was_sent_acknowledged_and_how_fresh_the_hub_is(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    registry_file = await city(tmp_path, lots=5, berths=500)
    registry = load_registry(registry_file)
    async with running_hub(redis_url, mqtt_url, lots=str(registry_file)) as hub:
        code, out = await sim(
            "load", "--lots", str(registry_file), "--mqtt-url", mqtt_url.partition("?")[0],
            "--topic-prefix", hub.prefix, "--hub", hub.base_url,
            "--rate", "1000", "--duration", "2", "--batch", "20",
        )  # fmt: skip
        assert code == 0, out
        sent = re.search(r"sent ([\d,]+) messages \(([\d,]+) events\)", out)
        acked = re.search(r"acknowledged ([\d,]+) messages \(([\d,]+) events\)", out)
        assert sent is not None, out
        assert acked is not None, out
        events = int(sent[2].replace(",", ""))
        assert events > 0
        assert acked[2] == sent[2]
        assert re.search(
            r"freshness \(acknowledged -> visible in GET /v1/lots\): [1-9]\d* probes, p50 \d+ ms", out
        ), out

        def loaded(totals: Any) -> bool:
            return bool(totals[0] == events)

        # Every load event lands; the probe lot (the first) is kept apart from the load.
        totals = await eventually(lambda: lot_totals(hub, registry.lot_ids[1:]), loaded)
        assert totals == (events, 0)


@pytest.mark.parametrize("fmt", ["tts", "chirpstack", "mixed"])
async def test_network_server_uplinks_reach_the_hub_through_every_vendor_decoder(
    redis_url: str, mqtt_url: str, tmp_path: Path, fmt: str
) -> None:
    """The simulator wraps each vendor's payload in The Things Stack or ChirpStack envelopes; the
    hub finds the device in the registry, decodes the payload and applies it."""
    registry_file = await city(tmp_path, lots=12, berths=600)
    registry = load_registry(registry_file)
    truth_file = tmp_path / "truth.npz"
    async with running_hub(redis_url, mqtt_url, lots=str(registry_file)) as hub:
        code, out = await sim(
            "run", "--lots", str(registry_file), "--mqtt-url", mqtt_url.partition("?")[0],
            "--topic-prefix", hub.prefix, "--hub", hub.base_url, "--format", fmt, "--faults", "all",
            "--speed", "max", "--hours", "12", "--seed", "9", "--truth", str(truth_file),
        )  # fmt: skip
        assert code == 0, out
        code, out = await sim(
            "verify", "--lots", str(registry_file), "--hub", hub.base_url, "--truth", str(truth_file)
        )
        assert code == 0, out
        truth = Truth.load(truth_file, registry)
        assert truth.delivered > 0
        # The state matches; reports that changed nothing (duplicates, late ones) may still be on
        # their way to the counters.
        applied, rejected = await eventually(
            lambda: lot_totals(hub, registry.lot_ids), lambda totals: totals[0] >= truth.delivered
        )
        assert applied == truth.delivered
        # A malformed envelope whose topic names no registered device (TTS names the network
        # server's device id) cannot be pinned on a lot: the hub counts it city-wide instead.
        assert 0 < rejected <= truth.rejected
