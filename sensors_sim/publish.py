"""MQTT out: the broker address, a QoS 1 publisher with many messages in flight, and gateway Wills."""

import asyncio
import itertools
import os
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

import aiomqtt

PUBLISH_WINDOW = 1_000  # QoS 1 messages in flight at once
CONNECT_TIMEOUT_S = 10.0

Outgoing = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class MqttUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> Self:
        """`mqtt://[user:password@]host[:port]`, or `mqtts://` for TLS."""
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"}:
            raise ValueError("must start with mqtt:// or mqtts://")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if not parts.hostname or parts.path not in {"", "/"} or parts.query:
            raise ValueError("must look like mqtt://[user:password@]host[:port]")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=tls,
        )

    def tls_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context() if self.tls else None


_client_numbers = itertools.count(1)


def client_id(role: str) -> str:
    """A client id of its own for each connection this process makes."""
    return f"sensors-sim-{role}-{os.getpid()}-{next(_client_numbers)}"


class Publisher:
    """An MQTT connection that publishes at QoS 1 with up to PUBLISH_WINDOW messages in flight.

    `send` returns as soon as the message is handed over; `then` runs when the broker has
    acknowledged it. Leaving the context waits for every acknowledgement.
    """

    def __init__(self, url: MqttUrl) -> None:
        self.url = url
        self._client: aiomqtt.Client | None = None
        self._tasks = asyncio.TaskGroup()
        self._slots = asyncio.Semaphore(PUBLISH_WINDOW)
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __aenter__(self) -> Self:
        # MQTT 3.1.1 works with every broker the project uses, the embedded one included.
        client = aiomqtt.Client(
            self.url.host,
            self.url.port,
            username=self.url.username,
            password=self.url.password,
            identifier=client_id("pub"),
            tls_context=self.url.tls_context(),
            max_inflight_messages=PUBLISH_WINDOW,
            timeout=CONNECT_TIMEOUT_S,
        )
        client.pending_calls_threshold = PUBLISH_WINDOW + 1
        await client.__aenter__()
        self._client = client
        await self._tasks.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        client, self._client = self._client, None
        try:
            await self._tasks.__aexit__(exc_type, exc, tb)  # waits for what is in flight
        except* aiomqtt.MqttError as failed:
            raise failed.exceptions[0] from None
        finally:
            if client is not None:
                await client.__aexit__(exc_type, exc, tb)

    async def send(
        self, topic: str, payload: bytes, *, retain: bool = False, then: Callable[[], None] | None = None
    ) -> None:
        """Hand one message over, waiting only while the window is full."""
        if self._client is None:
            raise RuntimeError("Publisher is not connected; use it as an async context manager")
        await self._slots.acquire()
        self._in_flight += 1
        self._idle.clear()
        self._tasks.create_task(self._publish(self._client, (topic, payload), retain=retain, then=then))

    async def _publish(
        self, client: aiomqtt.Client, message: Outgoing, *, retain: bool, then: Callable[[], None] | None
    ) -> None:
        try:
            await client.publish(*message, qos=1, retain=retain)
            if then is not None:
                then()
        finally:
            self._slots.release()
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def drain(self) -> None:
        """Until every message handed over so far is acknowledged."""
        await self._idle.wait()

    async def publish(self, messages: Iterable[Outgoing], *, retain: bool = False) -> int:
        """Publish in order and wait for every acknowledgement; returns the number sent."""
        sent = 0
        for topic, payload in messages:
            await self.send(topic, payload, retain=retain)
            sent += 1
        await self.drain()
        return sent


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def will_connect_packet(identifier: str, url: MqttUrl, will_topic: str, will_payload: bytes) -> bytes:
    """An MQTT 3.1.1 CONNECT whose Will is `will_payload` on `will_topic`, QoS 1, retained."""
    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    credentials = b""
    if url.username is not None:
        flags |= 0x80
        credentials += _field(url.username.encode())
    if url.password is not None:
        flags |= 0x40
        credentials += _field(url.password.encode())
    header = _field(b"MQTT") + bytes([4, flags]) + (60).to_bytes(2, "big")
    body = (
        header
        + _field(identifier.encode())
        + _field(will_topic.encode())
        + _field(will_payload)
        + credentials
    )
    return b"\x10" + _remaining_length(len(body)) + body


async def drop_with_will(url: MqttUrl, will_topic: str, will_payload: bytes) -> None:
    """Connect as a gateway with a Last Will, then vanish without saying goodbye.

    The connection is cut without a DISCONNECT, which is what a gateway losing power or network
    looks like to the broker: it publishes the Will.
    """
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(url.host, url.port, ssl=url.tls_context()), CONNECT_TIMEOUT_S
    )
    try:
        writer.write(will_connect_packet(client_id("gateway"), url, will_topic, will_payload))
        await writer.drain()
        try:
            connack = await asyncio.wait_for(reader.readexactly(4), CONNECT_TIMEOUT_S)
        except asyncio.IncompleteReadError:
            raise aiomqtt.MqttError("the broker closed the gateway connection") from None
        if connack[0] != 0x20 or connack[3] != 0:
            raise aiomqtt.MqttError(f"the broker refused the gateway connection (CONNACK {connack.hex()})")
    finally:
        writer.transport.abort()
