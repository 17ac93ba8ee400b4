"""The secure broker recipe (deploy/mosquitto-secure) on a real Mosquitto: TLS, logins per lot
operator, the dynamic-security rules `parking-hub lots acl` writes from the registry, and an
adversarial operator that tries to take the hub's session and stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import orjson
import pytest
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from parking_hub.cli import main
from parking_hub.embedded import free_port, managed_process
from tests.certs import Certificates, make_certificates
from tests.integration.hub import Hub, lot_feature, running_hub, unique, write_registry
from tests.integration.test_skeleton import now_ms, wait_applied

# Where Debian and the eclipse-mosquitto image install the dynamic-security plugin.
DYNSEC = next(
    (
        path
        for path in (
            Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"),
            Path("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so"),
            Path("/usr/lib/mosquitto_dynamic_security.so"),
        )
        if path.exists()
    ),
    None,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("mosquitto_passwd") is None or DYNSEC is None,
        reason="needs mosquitto, mosquitto_passwd and the dynamic-security plugin",
    ),
]

CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto-secure" / "mosquitto.conf"
HUB = "parking-hub"
PASSWORDS = {HUB: "hub-pw", "op-a": "a-pw", "op-b": "b-pw"}
HUB_GROUP = "parking-hub-ingest"  # the Kubernetes ingest replicas' group
NOT_AUTHORIZED = 0x87


@dataclass(frozen=True, slots=True)
class SecureBroker:
    port: int
    certs: Certificates
    prefix: str
    lot_a: str  # operator op-a's lot
    lot_b: str  # operator op-b's lot
    registry: Path


def broker_conf(port: int, workdir: Path, certs: Certificates) -> str:
    conf = CONF.read_text().replace("listener 8883", f"listener {port} 127.0.0.1")
    conf = conf.replace("/mosquitto/config/certs/ca.crt", str(certs.ca))
    conf = conf.replace("/mosquitto/config/certs/server.crt", str(certs.server_cert))
    conf = conf.replace("/mosquitto/config/certs/server.key", str(certs.server_key))
    conf = conf.replace("/usr/lib/mosquitto_dynamic_security.so", str(DYNSEC))
    conf = re.sub(r"/mosquitto/(config|data)/", f"{workdir}/", conf)
    if os.geteuid() == 0:
        # As root, mosquitto would switch to its own user, which cannot enter the test's temp dir.
        conf += "user root\n"
    return conf


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    prefix = unique("sec")
    lot_a, lot_b = unique("a"), unique("b")
    registry = write_registry(
        tmp_path / "city.geojson",
        [
            lot_feature(lot_a, 120.38, 36.06, 4, operator="op-a"),
            lot_feature(lot_b, 120.39, 36.07, 4, operator="op-b"),
        ],
    )
    for number, (user, password) in enumerate(PASSWORDS.items()):
        create = ["-c"] if number == 0 else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(tmp_path / "passwd"), user, password], check=True
        )
    rules = ["-o", str(tmp_path / "dynamic-security.json"), "--topic-prefix", prefix]
    main(["lots", "acl", str(registry), "--passwd", str(tmp_path / "passwd"), *rules])
    certs = make_certificates(tmp_path)
    port = free_port()
    (tmp_path / "mosquitto.conf").write_text(broker_conf(port, tmp_path, certs))
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with managed_process([mosquitto, "-c", str(tmp_path / "mosquitto.conf")], port, "mosquitto", tmp_path):
        yield SecureBroker(port, certs, prefix, lot_a, lot_b, registry)


@contextmanager
def connected(
    broker: SecureBroker, user: str, client_id: str, *, resume: bool = False
) -> Iterator[tuple[paho.Client, bool]]:
    """An MQTT 5 client logged in as `user` and the CONNACK's session-present flag. With `resume`,
    clean start is off and the session outlives the connection: a try to pick up a stored session."""
    connack: list[bool] = []
    done = threading.Event()

    def on_connect(
        client: paho.Client, userdata: object, flags: paho.ConnectFlags, code: ReasonCode, props: object
    ) -> None:
        assert not code.is_failure, code
        connack.append(flags.session_present)
        done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.tls_set(ca_certs=str(broker.certs.ca))
    client.username_pw_set(user, PASSWORDS[user])
    client.on_connect = on_connect
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600 if resume else 0
    client.connect("127.0.0.1", broker.port, clean_start=not resume, properties=properties)
    client.loop_start()
    try:
        assert done.wait(30), "no CONNACK within 30 s"
        yield client, connack[0]
    finally:
        client.disconnect()
        client.loop_stop()


def publish_as(broker: SecureBroker, user: str, messages: list[tuple[str, bytes]]) -> list[ReasonCode]:
    """Publishes QoS 1 messages over MQTT 5 in order and returns their PUBACKs' reason codes."""
    codes: dict[int, ReasonCode] = {}
    acked = threading.Event()

    def on_publish(
        client: paho.Client, userdata: object, mid: int, code: ReasonCode, properties: object
    ) -> None:
        codes[mid] = code
        if len(codes) == len(messages):
            acked.set()

    with connected(broker, user, unique(user)) as (client, _):
        client.on_publish = on_publish
        mids = [client.publish(topic, payload, qos=1).mid for topic, payload in messages]
        assert acked.wait(30), "no PUBACKs within 30 s"
    return [codes[mid] for mid in mids]


def subscribe_as(client: paho.Client, topic_filter: str) -> ReasonCode:
    """Subscribes at QoS 1 and returns the SUBACK's reason code."""
    granted: list[ReasonCode] = []
    done = threading.Event()

    def on_subscribe(
        client: paho.Client, userdata: object, mid: int, codes: list[ReasonCode], properties: object
    ) -> None:
        granted.extend(codes)
        done.set()

    client.on_subscribe = on_subscribe
    client.subscribe(topic_filter, qos=1)
    assert done.wait(30), "no SUBACK within 30 s"
    return granted[0]


def frame(berth: int) -> bytes:
    return orjson.dumps({"berth": [berth], "occupied": [1], "ts": [now_ms()]})


def tls(broker: SecureBroker) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=broker.certs.ca)


async def test_an_operator_cannot_write_into_another_operators_lot(
    secure_broker: SecureBroker, redis_url: str
) -> None:
    broker = secure_broker
    hub_url = f"mqtts://{HUB}:{PASSWORDS[HUB]}@127.0.0.1:{broker.port}"
    async with running_hub(
        redis_url,
        hub_url,
        mqtt_ca_file=str(broker.certs.ca),
        lots=str(broker.registry),
        topic_prefix=broker.prefix,
    ) as hub:
        lots = f"{broker.prefix}/v1/lots"
        refused, accepted = await asyncio.to_thread(
            publish_as,
            broker,
            "op-a",
            [(f"{lots}/{broker.lot_b}/events", frame(0)), (f"{lots}/{broker.lot_a}/events", frame(1))],
        )
        assert refused.value == NOT_AUTHORIZED, refused
        assert accepted.value == 0, accepted
        own = await wait_applied(hub, broker.lot_a, 1)
        assert own["occupied"] == 1
        # The broker keeps one client's messages in order: had it passed the first, it would be in.
        status, other = await hub.get(f"/v1/lots/{broker.lot_b}")
        assert status == 200
        assert (other["events_applied"], other["occupied"]) == (0, 0)


async def test_the_hub_reports_errors_that_only_the_lots_operator_reads(
    secure_broker: SecureBroker, redis_url: str
) -> None:
    broker = secure_broker
    hub_url = f"mqtts://{HUB}:{PASSWORDS[HUB]}@127.0.0.1:{broker.port}"
    lots = f"{broker.prefix}/v1/lots"
    async with (
        running_hub(
            redis_url,
            hub_url,
            mqtt_ca_file=str(broker.certs.ca),
            lots=str(broker.registry),
            topic_prefix=broker.prefix,
        ),
        aiomqtt.Client(
            "127.0.0.1", broker.port, username="op-a", password=PASSWORDS["op-a"], tls_context=tls(broker)
        ) as operator,
    ):
        await operator.subscribe(f"{lots}/{broker.lot_a}/errors", qos=1)
        await operator.publish(f"{lots}/{broker.lot_a}/events", b"not json", qos=1)
        async with asyncio.timeout(30):
            async for message in operator.messages:
                assert orjson.loads(message.payload)["code"] == "invalid_json"
                break


async def test_the_broker_refuses_wrong_passwords_and_plain_connections(secure_broker: SecureBroker) -> None:
    broker = secure_broker
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="op-a", password="wrong", tls_context=tls(broker)
        ):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="op-a", password=PASSWORDS["op-a"], timeout=5
        ):
            pass


def frames(count: int) -> list[bytes]:
    """`count` reports for one berth, each newer than the last: every one is an applied event."""
    start = now_ms()
    return [orjson.dumps({"berth": [0], "occupied": [n % 2], "ts": [start + n]}) for n in range(count)]


def session_losses(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "mqtt connection lost" in r.getMessage()]


def hub_for(broker: SecureBroker, redis_url: str) -> contextlib.AbstractAsyncContextManager[Hub]:
    """A hub that logs in as itself and reads through the shared group the ingest replicas use."""
    return running_hub(
        redis_url,
        f"mqtts://{HUB}:{PASSWORDS[HUB]}@127.0.0.1:{broker.port}",
        mqtt_ca_file=str(broker.certs.ca),
        lots=str(broker.registry),
        topic_prefix=broker.prefix,
        client_id=HUB,
        share_group=HUB_GROUP,
    )


async def test_an_adversarial_operator_cannot_take_the_hubs_session_or_stream(
    secure_broker: SecureBroker, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Operator op-a, with valid credentials for its own lot, tries every takeover while op-b
    publishes: every event op-b had acknowledged is applied, and the hub keeps its session."""
    broker = secure_broker
    lots = f"{broker.prefix}/v1/lots"
    events_b = f"{lots}/{broker.lot_b}/events"
    caplog.set_level(logging.WARNING, logger="parking_hub")
    async with hub_for(broker, redis_url) as hub:
        with connected(broker, "op-a", HUB, resume=True) as (adversary, resumed):
            # The broker gave op-a a session of its own (its login), not the hub's.
            assert not resumed
            stolen: list[str] = []
            adversary.on_message = lambda client, userdata, message: stolen.append(message.topic)
            for topic_filter in (
                f"$share/{HUB_GROUP}/{lots}/+/events",
                f"$share/{HUB_GROUP}/#",
                events_b,
                "#",
            ):
                code = await asyncio.to_thread(subscribe_as, adversary, topic_filter)
                assert code.value == NOT_AUTHORIZED, (topic_filter, code)
            codes = await asyncio.to_thread(publish_as, broker, "op-b", [(events_b, f) for f in frames(20)])
            assert all(code.value == 0 for code in codes), codes
            await wait_applied(hub, broker.lot_b, 20)
        assert stolen == []
    # While the hub is down the broker queues for its session; op-a tries to resume that session.
    codes = await asyncio.to_thread(publish_as, broker, "op-b", [(events_b, f) for f in frames(10)])
    assert all(code.value == 0 for code in codes), codes
    with connected(broker, "op-a", HUB, resume=True) as (adversary, _):
        adversary.on_message = lambda client, userdata, message: stolen.append(message.topic)
        await asyncio.sleep(1)
    assert stolen == []
    async with hub_for(broker, redis_url) as hub:
        await wait_applied(hub, broker.lot_b, 30)
    assert session_losses(caplog) == []
