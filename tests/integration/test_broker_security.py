"""The secure broker recipe (deploy/mosquitto-secure) on a real Mosquitto: TLS, a user per lot
operator, and the ACL `parking-hub lots acl` writes from the registry."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import orjson
import pytest
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from parking_hub.cli import main
from parking_hub.embedded import free_port, managed_process
from tests.certs import Certificates, make_certificates
from tests.integration.hub import lot_feature, running_hub, unique, write_registry
from tests.integration.test_skeleton import now_ms, wait_applied

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("mosquitto_passwd") is None, reason="needs mosquitto and mosquitto_passwd"
    ),
]

CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto-secure" / "mosquitto.conf"
PASSWORDS = {"parking-hub": "hub-pw", "op-a": "a-pw", "op-b": "b-pw"}
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
    main(["lots", "acl", str(registry), "-o", str(tmp_path / "acl"), "--topic-prefix", prefix])
    for number, (user, password) in enumerate(PASSWORDS.items()):
        create = ["-c"] if number == 0 else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(tmp_path / "passwd"), user, password], check=True
        )
    certs = make_certificates(tmp_path)
    port = free_port()
    (tmp_path / "mosquitto.conf").write_text(broker_conf(port, tmp_path, certs))
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with managed_process([mosquitto, "-c", str(tmp_path / "mosquitto.conf")], port, "mosquitto", tmp_path):
        yield SecureBroker(port, certs, prefix, lot_a, lot_b, registry)


def publish_as(broker: SecureBroker, user: str, topic: str, payload: bytes) -> ReasonCode:
    """Publishes one QoS 1 message over MQTT 5 and returns the PUBACK's reason code."""
    acked = threading.Event()
    codes: list[ReasonCode] = []

    def on_publish(
        client: paho.Client, userdata: object, mid: int, code: ReasonCode, properties: object
    ) -> None:
        codes.append(code)
        acked.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=unique(user), protocol=paho.MQTTv5)
    client.tls_set(ca_certs=str(broker.certs.ca))
    client.username_pw_set(user, PASSWORDS[user])
    client.on_publish = on_publish
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1)
        assert acked.wait(30), "no PUBACK within 30 s"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def frame(berth: int) -> bytes:
    return orjson.dumps({"berth": [berth], "occupied": [1], "ts": [now_ms()]})


def tls(broker: SecureBroker) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=broker.certs.ca)


async def test_an_operator_cannot_write_into_another_operators_lot(
    secure_broker: SecureBroker, redis_url: str
) -> None:
    broker = secure_broker
    hub_url = f"mqtts://parking-hub:{PASSWORDS['parking-hub']}@127.0.0.1:{broker.port}"
    async with running_hub(
        redis_url,
        hub_url,
        mqtt_ca_file=str(broker.certs.ca),
        lots=str(broker.registry),
        topic_prefix=broker.prefix,
    ) as hub:
        lots = f"{broker.prefix}/v1/lots"
        refused = await asyncio.to_thread(
            publish_as, broker, "op-a", f"{lots}/{broker.lot_b}/events", frame(0)
        )
        assert refused.value == NOT_AUTHORIZED, refused
        accepted = await asyncio.to_thread(
            publish_as, broker, "op-a", f"{lots}/{broker.lot_a}/events", frame(1)
        )
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
    hub_url = f"mqtts://parking-hub:{PASSWORDS['parking-hub']}@127.0.0.1:{broker.port}"
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
