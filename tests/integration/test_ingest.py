"""Ingest behaviour through a real broker and Redis: status and Last Will, staleness, resync,
metrics, and no loss when the hub is killed mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import numpy as np
import orjson
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from parking_hub.config import MqttTarget
from parking_hub.embedded import free_port, mqtt_broker, redis_server
from parking_hub.store import redis_keys
from tests.integration.hub import eventually, lot_feature, redis_client, running_hub, unique, write_registry
from tests.integration.test_skeleton import load, lot_state, now_ms, publish

pytestmark = pytest.mark.integration


async def test_gateway_status_and_last_will_make_a_lot_unknown(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    lot_id = unique("gw")
    assert (
        load(redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 3)])).returncode
        == 0
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        base = f"{hub.prefix}/v1/lots/{lot_id}"
        t = now_ms()
        await publish(
            mqtt_url, [(f"{base}/events", {"berth": [0, 1, 2], "occupied": [0, 1, 0], "ts": [t, t, t]})]
        )
        body = await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == 3)
        assert (body["free"], body["occupied"], body["unknown"], body["online"]) == (2, 1, 0, True)

        # A gateway whose connection dies: the broker publishes its Will, and the lot goes unknown.
        target = MqttTarget.from_url(mqtt_url)
        gateway = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            GATEWAY_WITH_WILL,
            target.host,
            str(target.port),
            f"{base}/status",
            stdout=asyncio.subprocess.PIPE,
        )
        assert gateway.stdout is not None
        assert (await asyncio.wait_for(gateway.stdout.readline(), 10)).strip() == b"connected"
        gateway.send_signal(signal.SIGKILL)
        await gateway.wait()
        body = await eventually(lambda: lot_state(hub, lot_id), lambda b: not b["online"])
        assert (body["online"], body["free"], body["occupied"], body["unknown"]) == (False, 0, 0, 3)

        # An older "online" loses to the Will (received now); a newer one brings the lot back.
        await publish(mqtt_url, [(f"{base}/status", {"online": True, "ts": t - 60_000})])
        await asyncio.sleep(0.5)
        assert (await lot_state(hub, lot_id))["online"] is False
        await publish(mqtt_url, [(f"{base}/status", {"online": True, "ts": now_ms() + 1_000})])
        body = await eventually(lambda: lot_state(hub, lot_id), lambda b: b["online"])
        assert (body["online"], body["free"], body["occupied"], body["unknown"]) == (True, 2, 1, 0)


GATEWAY_WITH_WILL = """
import sys, time
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion
host, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = paho.Client(CallbackAPIVersion.VERSION2, client_id="gw-will-" + str(time.time_ns()))
c.will_set(topic, b'{"online": false}', qos=1, retain=True)
c.connect(host, port, keepalive=5)
c.loop_start()
time.sleep(0.5)
print("connected", flush=True)
time.sleep(60)
"""


async def test_a_silent_berth_turns_unknown_after_three_heartbeats(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    lot_id = unique("hb")
    registry = write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 2, heartbeat_s=1)])
    assert load(redis_url, registry).returncode == 0
    async with running_hub(redis_url, mqtt_url) as hub:
        t = now_ms()
        await publish(
            mqtt_url, [(f"{hub.prefix}/v1/lots/{lot_id}/events", {"berth": [0], "occupied": [0], "ts": [t]})]
        )
        body = await eventually(lambda: lot_state(hub, lot_id), lambda b: b["free"] == 1)
        assert (body["free"], body["unknown"]) == (1, 1)  # berth 1 never reported: unknown, not free
        body = await eventually(lambda: lot_state(hub, lot_id), lambda b: b["free"] == 0, within=6)
        assert (body["free"], body["occupied"], body["unknown"]) == (0, 0, 2)
        assert now_ms() - t > 3_000  # not before 3 * heartbeat_s


async def test_a_gateway_resyncs_a_large_lot_in_several_frames(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    lot_id = unique("big")
    capacity = 25_000
    assert (
        load(
            redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, capacity)])
        ).returncode
        == 0
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        topic = f"{hub.prefix}/v1/lots/{lot_id}/events"
        occupied = (np.arange(capacity) % 4 == 0).astype(int)
        t = now_ms()

        def resync(ts: int) -> list[tuple[str, Any]]:
            return [
                (
                    topic,
                    {
                        "gateway": "gw",
                        "seq": i,
                        "berth": list(range(a, min(a + 10_000, capacity))),
                        "occupied": occupied[a : a + 10_000].tolist(),
                        "ts": [ts] * len(occupied[a : a + 10_000]),
                    },
                )
                for i, a in enumerate(range(0, capacity, 10_000))
            ]

        await publish(mqtt_url, resync(t))
        body = await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == capacity)
        assert (body["occupied"], body["free"], body["unknown"]) == (
            capacity // 4,
            capacity - capacity // 4,
            0,
        )
        await publish(mqtt_url, resync(t - 1_000))  # an old resync replayed late changes nothing
        body = await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == 2 * capacity)
        assert (body["occupied"], body["free"], body["unknown"]) == (
            capacity // 4,
            capacity - capacity // 4,
            0,
        )


async def test_a_seq_gap_is_counted_and_answered_with_a_resync_request(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    lot_id = unique("gap")
    assert (
        load(redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 4)])).returncode
        == 0
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        base = f"{hub.prefix}/v1/lots/{lot_id}"
        target = MqttTarget.from_url(mqtt_url)
        async with aiomqtt.Client(target.host, target.port, identifier=unique("gw")) as gateway:
            await gateway.subscribe(f"{base}/resync", qos=1)
            t = now_ms()

            def frame(seq: int, gateway: str = "gw-1") -> tuple[str, Any]:
                body = {"gateway": gateway, "seq": seq, "berth": [seq % 4], "occupied": [1], "ts": [t + seq]}
                return f"{base}/events", body

            # 3 and 4 are lost; 3 then arrives late, gw-1 restarts at 1, gw-2 starts at 7: one gap.
            await publish(
                mqtt_url, [frame(1), frame(2), frame(5), frame(3), frame(1), frame(2), frame(7, "gw-2")]
            )
            request = await asyncio.wait_for(anext(aiter(gateway.messages)), 10)
            assert orjson.loads(request.payload) == {
                "gateway": "gw-1", "reason": "seq_gap", "missing_from": 3, "ts": ANY_INT,
            }  # fmt: skip
            assert request.qos == 1
            assert not request.retain
            await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == 7)
            with pytest.raises(TimeoutError):  # and no other request
                await asyncio.wait_for(anext(aiter(gateway.messages)), 1)
        async with hub.http.get(hub.base_url + "/metrics") as resp:
            assert "\nparking_hub_ingest_seq_gaps_total 1.0\n" in await resp.text()


async def test_gaps_24h_counts_each_seq_gap_of_the_lot(redis_url: str, mqtt_url: str, tmp_path: Path) -> None:
    lot_id = unique("g24")
    assert (
        load(redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 4)])).returncode
        == 0
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        topic = f"{hub.prefix}/v1/lots/{lot_id}/events"
        t = now_ms()

        def frames(*seqs: int) -> list[tuple[str, Any]]:
            return [
                (topic, {"gateway": "gw-1", "seq": seq, "berth": [seq % 4], "occupied": [1], "ts": [t + seq]})
                for seq in seqs
            ]

        async def gaps_once_applied(events: int, gaps: int) -> int:
            # The gap counter is written just after the events: wait for both.
            body = await eventually(
                lambda: lot_state(hub, lot_id),
                lambda b: b["events_applied"] == events and b["gaps_24h"] >= gaps,
            )
            return int(body["gaps_24h"])

        await publish(mqtt_url, frames(1, 2))
        assert await gaps_once_applied(2, 0) == 0
        await publish(mqtt_url, frames(4))
        assert await gaps_once_applied(3, 1) == 1
        await publish(mqtt_url, frames(5, 9))
        assert await gaps_once_applied(5, 2) == 2


class _AnyInt:
    def __eq__(self, other: object) -> bool:
        return type(other) is int

    def __hash__(self) -> int:
        return 0


ANY_INT: Any = _AnyInt()


async def test_messages_with_mqtt5_properties_are_read_whole(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    """The hub skips a PUBLISH's MQTT 5 properties itself: the payload after them must be intact,
    whatever their length (a property block past 127 bytes takes a two-byte length)."""
    target = MqttTarget.from_url(mqtt_url)
    if target.protocol != "5":
        pytest.skip("the broker speaks MQTT 3.1.1 only")
    lot_id = unique("props")
    assert (
        load(redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 3)])).returncode
        == 0
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        base = f"{hub.prefix}/v1/lots/{lot_id}"
        t = now_ms()
        async with aiomqtt.Client(
            target.host, target.port, identifier=unique("gw"), protocol=aiomqtt.ProtocolVersion.V5
        ) as client:
            for berth, user_value in ((0, "short"), (1, "x" * 300)):
                properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                properties.ContentType = "application/json"
                properties.MessageExpiryInterval = 3600
                properties.UserProperty = [("source", user_value)]
                payload = orjson.dumps({"occupied": 1, "ts": t})
                await client.publish(f"{base}/berths/{berth}", payload, qos=1, properties=properties)
        body = await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == 2)
        assert (body["occupied"], body["events_rejected"]) == (2, 0)


async def test_metrics_count_results_and_rejections_by_reason(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    lot_id = unique("m")
    assert (
        load(redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 4)])).returncode
        == 0
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        t = now_ms()
        base = f"{hub.prefix}/v1/lots/{lot_id}"
        frame = {"berth": [0, 1, 7], "occupied": [1, 1, 1], "ts": [t, t, t]}
        await publish(
            mqtt_url, [(f"{base}/events", frame), (f"{base}/events", frame), (f"{base}/events", b"[")]
        )
        await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == 4)
        async with hub.http.get(hub.base_url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
        values = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }
        assert values['parking_hub_ingest_events_total{result="won"}'] == 2
        assert values['parking_hub_ingest_events_total{result="stale"}'] == 2
        assert values['parking_hub_ingest_rejected_events_total{code="berth_out_of_range"}'] == 2
        assert values['parking_hub_ingest_rejected_events_total{code="invalid_json"}'] == 1
        assert values["parking_hub_mqtt_connected"] == 1
        assert values["parking_hub_redis_connected"] == 1
        assert values["parking_hub_ingest_batches_total"] >= 1


async def test_killing_the_hub_mid_stream_loses_nothing(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    """Every message reports a berth of its own, so a lost message leaves a berth never reported."""
    if "protocol=3.1.1" in mqtt_url:
        # Seen here: after the hub reconnects, amqtt delivers none of the messages it should have
        # queued for the persistent session. The guarantee needs Mosquitto or EMQX (README).
        pytest.xfail("the embedded amqtt broker does not queue for a disconnected persistent session")
    lots = [unique("k") for _ in range(10)]
    capacity = 1_000
    registry = write_registry(tmp_path / "r.json", [lot_feature(lot, 120.0, 36.0, capacity) for lot in lots])
    assert load(redis_url, registry).returncode == 0
    prefix, client_id = unique("t"), unique("hub")
    log = tmp_path / "hub.log"

    async def start_hub() -> asyncio.subprocess.Process:
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "parking_hub",
                "serve",
                "--role",
                "ingest",
                "--redis-url",
                redis_url,
                "--mqtt-url",
                mqtt_url,
                "--http",
                f"127.0.0.1:{port}",
                "--topic-prefix",
                prefix,
                "--client-id",
                client_id,
                stdout=out,
                stderr=out,
            )
        # Ready means subscribed: from here on the broker queues for this client id.
        await eventually(ready, bool, within=60)
        return proc

    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    port = free_port()
    redis = redis_client(redis_url)

    async def applied() -> int:
        values = [await redis.hget(redis_keys.meta(lot), "applied") for lot in lots]
        return sum(int(v or 0) for v in values)

    hub = await start_hub()
    try:
        t = now_ms() - 60_000
        messages = [
            (f"{prefix}/v1/lots/{lot}/berths/{berth}", {"occupied": (berth + i) % 2, "ts": t + berth})
            for i, lot in enumerate(lots)
            for berth in range(capacity)
        ]
        publisher = asyncio.create_task(publish(mqtt_url, messages))
        await eventually(applied, lambda n: n > 1_000, within=30)
        hub.send_signal(signal.SIGKILL)  # mid-stream: some batches written but not yet acknowledged
        await hub.wait()
        await publisher
        hub = await start_hub()
        total = await eventually(applied, lambda n: n >= len(messages), within=60)
        assert total >= len(messages), log.read_text()[-2000:]
        for i, lot in enumerate(lots):
            raw = await redis.get(redis_keys.reports(lot))
            assert isinstance(raw, bytes)
            ranks = np.frombuffer(raw, dtype=">i8")
            expected = (t + np.arange(capacity)) * 2 + (np.arange(capacity) + i) % 2
            assert ranks.tolist() == expected.tolist(), (
                f"lot {lot}: {int((ranks == 0).sum())} berths never arrived"
            )
    finally:
        if hub.returncode is None:
            hub.send_signal(signal.SIGTERM)
            await hub.wait()
        await redis.aclose()


async def test_a_redis_outage_delays_events_but_loses_none(mqtt_url: str, tmp_path: Path) -> None:
    """Redis stops mid-stream: the hub turns unready, retries, and applies everything once it is back."""
    lot_id = unique("outage")
    registry = write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 100)])
    workdir = tmp_path / "redis"
    workdir.mkdir()
    port = free_port()
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(workdir, appendonly=True, port=port))
        assert load(redis_url, registry).returncode == 0
        async with running_hub(redis_url, mqtt_url) as hub:
            topic = f"{hub.prefix}/v1/lots/{lot_id}/events"
            t = now_ms()
            await publish(
                mqtt_url, [(topic, {"berth": list(range(50)), "occupied": [1] * 50, "ts": [t] * 50})]
            )
            await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == 50)

            stack.close()  # Redis stops (and writes its append-only file)
            frame = {"berth": list(range(50, 100)), "occupied": [0] * 50, "ts": [t + 1] * 50}
            await publish(mqtt_url, [(topic, frame)])
            status, body = await eventually(lambda: hub.get("/readyz"), lambda r: r[0] == 503)
            assert status == 503
            assert "redis is not reachable" in body["reasons"]
            # No answer rather than an out-of-date one while Redis is away.
            status, body = await eventually(lambda: hub.get(f"/v1/lots/{lot_id}"), lambda r: r[0] == 503)
            assert (status, body["error"]["code"]) == (503, "unavailable")

            stack.enter_context(redis_server(workdir, appendonly=True, port=port))  # back, same data
            status, state = await eventually(
                lambda: hub.get(f"/v1/lots/{lot_id}"),
                lambda r: r[0] == 200 and r[1]["events_applied"] == 100,
                within=30,
            )
            assert status == 200, state
            assert (state["occupied"], state["free"], state["unknown"]) == (50, 50, 0)
            status, _ = await eventually(lambda: hub.get("/readyz"), lambda r: r[0] == 200)
            assert status == 200


async def test_the_hub_reconnects_after_the_broker_restarts(redis_url: str, tmp_path: Path) -> None:
    lot_id = unique("brk")
    assert (
        load(redis_url, write_registry(tmp_path / "r.json", [lot_feature(lot_id, 120.0, 36.0, 4)])).returncode
        == 0
    )
    port = free_port()
    with contextlib.ExitStack() as stack:
        mqtt_url = stack.enter_context(mqtt_broker(tmp_path, port=port))
        async with running_hub(redis_url, mqtt_url) as hub:
            topic = f"{hub.prefix}/v1/lots/{lot_id}/events"
            t = now_ms()
            await publish(mqtt_url, [(topic, {"berth": [0], "occupied": [1], "ts": [t]})])
            await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == 1)

            stack.close()  # the broker goes away
            status, body = await eventually(lambda: hub.get("/readyz"), lambda r: r[0] == 503)
            assert "mqtt broker is not connected" in body["reasons"]

            stack.enter_context(mqtt_broker(tmp_path, port=port))
            status, _ = await eventually(lambda: hub.get("/readyz"), lambda r: r[0] == 200, within=30)
            assert status == 200
            await publish(mqtt_url, [(topic, {"berth": [1], "occupied": [1], "ts": [t + 1]})])
            state = await eventually(lambda: lot_state(hub, lot_id), lambda b: b["events_applied"] == 2)
            assert state["occupied"] == 2
