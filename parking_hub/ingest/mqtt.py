"""A small adapter over aiomqtt: persistent session, MQTT 5 where offered, and acks we send ourselves.

aiomqtt acknowledges QoS 1 messages on receipt; the hub must acknowledge only after the effect is in
Redis, so it switches the underlying paho client to manual acks (see aiomqtt issue #345).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
from paho.mqtt import client as mqtt_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from parking_hub.config import MqttTarget

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
# The MQTT 5 Receive Maximum asked of the broker. Mosquitto 2.0 sends past it, so the inbox's
# high-water marks bound memory (docs/reliability.md, "Backpressure, and a lag that tells the truth").
RECEIVE_MAXIMUM = 1_000


def shared(topic_filter: str, group: str | None) -> str:
    """The filter as a shared subscription of `group` (MQTT 5, and Mosquitto 2 on 3.1.1 too): the
    broker hands each message to one session of the group. Messages keep their own topic."""
    return topic_filter if group is None else f"$share/{group}/{topic_filter}"


class Session:
    """One connected MQTT session."""

    def __init__(self, client: aiomqtt.Client, protocol: aiomqtt.ProtocolVersion) -> None:
        self.client = client
        self.protocol = protocol


class ProtocolMemo:
    """Remembers whether the broker refused MQTT 5, so reconnects go straight to 3.1.1."""

    def __init__(self, target: MqttTarget) -> None:
        v311 = target.protocol == "3.1.1"
        self.protocol = aiomqtt.ProtocolVersion.V311 if v311 else aiomqtt.ProtocolVersion.V5


def _client(target: MqttTarget, client_id: str, protocol: aiomqtt.ProtocolVersion) -> aiomqtt.Client:
    v5 = protocol is aiomqtt.ProtocolVersion.V5
    properties = None
    if v5:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
    client = aiomqtt.Client(
        target.host,
        target.port,
        username=target.username,
        password=target.password,
        identifier=client_id,
        protocol=protocol,
        clean_session=None if v5 else False,
        clean_start=False if v5 else mqtt_client.MQTT_CLEAN_START_FIRST_ONLY,
        properties=properties,
        tls_context=ssl.create_default_context(cafile=target.ca_file) if target.tls else None,
        max_inflight_messages=RECEIVE_MAXIMUM,
        timeout=10,
    )
    client._client.manual_ack_set(True)
    return client


@asynccontextmanager
async def session(target: MqttTarget, client_id: str, memo: ProtocolMemo) -> AsyncIterator[Session]:
    """Connect with a stable id and a persistent session.

    A broker that refuses or ignores an MQTT 5 CONNECT is tried once with MQTT 3.1.1, and if that
    works the session keeps to it.
    """
    client = _client(target, client_id, memo.protocol)
    try:
        await client.__aenter__()
    except aiomqtt.MqttError:
        if memo.protocol is not aiomqtt.ProtocolVersion.V5:
            raise
        client = _client(target, client_id, aiomqtt.ProtocolVersion.V311)
        await client.__aenter__()
        log.info("the broker does not speak MQTT 5; using MQTT 3.1.1 with a persistent session")
        memo.protocol = aiomqtt.ProtocolVersion.V311
    try:
        yield Session(client, memo.protocol)
    finally:
        await client.__aexit__(None, None, None)
