"""The simulator against a real hub: faulty traffic in, `verify` agrees with the hub's state.

The simulator runs as its own process, as users run it: it speaks MQTT to the broker and HTTP to
the hub, never Python to parking_hub.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import orjson
import pytest

from parking_hub.config import MqttTarget
from parking_hub.embedded import mqtt_broker
from sensors_sim.registry import load_registry
from sensors_sim.truth import Truth
from tests.integration.hub import Hub, eventually, running_hub, unique
from tests.unit.simcity import feature, write_features

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
        target = MqttTarget.from_url(mqtt_url)
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
        # The report's own lines, not the progress lines before them.
        sent = re.search(r"^sent ([\d,]+) messages \(([\d,]+) events\) in", out, re.MULTILINE)
        acked = re.search(r"^acknowledged ([\d,]+) messages \(([\d,]+) events\):", out, re.MULTILINE)
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


@pytest.fixture(scope="module", params=["path", "embedded"])
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker alone: gateways need no hub to be asked for a resync."""
    workdir = tmp_path_factory.mktemp(f"broker-{request.param}")
    with mqtt_broker(workdir, prefer_path=request.param == "path") as url:
        yield url.partition("?")[0]


MAX_FRAME_EVENTS = 10_000  # contract 3


def frame_ranks(frame: dict[str, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """A batch frame's berths and ranks (`ts * 2 + occupied`), once its form is checked."""
    assert set(frame) == {"gateway", "seq", "berth", "occupied", "ts"}, frame
    berth, occupied, ts = (np.array(frame[k], dtype=np.int64) for k in ("berth", "occupied", "ts"))
    assert 0 < len(berth) == len(occupied) == len(ts) <= MAX_FRAME_EVENTS
    assert set(occupied.tolist()) <= {0, 1}
    assert (ts > 1_577_836_800_000).all()  # 2020-01-01
    assert (ts < time.time_ns() // 1_000_000 + 300_000).all()
    return berth, ts * 2 + occupied


async def test_a_gateway_answers_a_resync_request_with_its_whole_lot_in_sequence(
    broker: str, tmp_path: Path
) -> None:
    """Asked as the hub asks (contract 7.4), a gateway sends every berth's last report, each
    exactly as it last sent it, in frames of at most 10,000 events that continue its `seq`."""
    capacity = MAX_FRAME_EVENTS + 2_000
    lots = [feature({"id": "big", "kind": "off_street", "capacity": capacity})]
    lots.append(feature({"id": "small", "kind": "on_street", "capacity": 40}, lon=120.41))
    registry_file = write_features(tmp_path / "city.geojson", lots)
    prefix = unique("sim")
    request = {"reason": "seq_gap", "missing_from": 2}
    target = MqttTarget.from_url(broker)
    async with aiomqtt.Client(target.host, target.port, identifier=unique("asker")) as client:
        await client.subscribe(f"{prefix}/v1/lots/big/events", qos=1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sensors_sim", "run", "--lots", str(registry_file),
            "--mqtt-url", broker, "--topic-prefix", prefix, "--format", "native",
            "--speed", "60", "--duration", "10", "--seed", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        seen = np.zeros(capacity, dtype=np.int64)  # the greatest report the gateway sent per berth
        seq, asked_at = 0, 0
        answer: list[int] = []  # the seq of each frame of the answer
        async with asyncio.timeout(60):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                frame = orjson.loads(message.payload)
                berth, rank = frame_ranks(frame)
                assert frame["seq"] == seq + 1, "each frame continues the gateway's seq"
                seq = frame["seq"]
                if asked_at and len(answer) < 2:
                    start = len(answer) * MAX_FRAME_EVENTS
                    part = np.arange(start, min(capacity, start + MAX_FRAME_EVENTS))
                    if answer or np.array_equal(berth, part):  # the answer's frames come in a row
                        assert np.array_equal(berth, part)
                        assert np.array_equal(rank, seen[part]), "each berth as the gateway last sent it"
                        answer.append(seq)
                elif answer:
                    break  # the traffic goes on after the answer, in sequence
                np.maximum.at(seen, berth, rank)
                if not asked_at and seen.all():
                    asked_at = seq
                    topic = f"{prefix}/v1/lots/big/resync"
                    ts = time.time_ns() // 1_000_000
                    await client.publish(topic, b"{", qos=1)
                    await client.publish(
                        topic, orjson.dumps(request | {"gateway": "gw-other", "ts": ts}), qos=1
                    )
                    body = request | {"gateway": frame["gateway"], "ts": ts}
                    await client.publish(topic, orjson.dumps(body), qos=1)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    assert len(answer) == 2
    assert answer[0] > asked_at
    assert (
        "resync: answered 1 requests with 2 frames (12,000 events); 1 for other gateways, 1 unreadable"
        in out.decode()
    )
