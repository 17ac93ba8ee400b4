"""The session's inbound messages, read off the socket in bulk, held between water marks, acked in bulk.

aiomqtt hands messages over one at a time: each takes a turn of the event loop, three `recv`
calls, a queue item and a task, and each ack a packet, a system call and a cross-thread wake-up;
paho builds an MQTT 5 `Properties` object for every PUBLISH (about 100 us, most of a message's
cost, and more the more messages are held, as the garbage collector walks them). That capped one
hub process at a sixth of what the wire carries. So, profile in hand, the inbox uses what aiomqtt
wraps directly, for reading and acknowledging only; connecting, subscribing, publishing and
disconnecting stay aiomqtt's and paho's:
- the socket is read 256 KiB at a time, so a burst of small messages costs one system call, and
  the whole PUBLISH packets such a read holds are parsed here, in one loop; paho reads the rest
  (any other packet, and one split between reads) as its three `recv` calls, served from that read;
- each readiness of the socket reads every packet it holds, not one;
- a QoS 0 or 1 PUBLISH becomes a plain tuple (topic, payload, packet id, QoS); its MQTT 5
  properties are skipped (the hub uses none, and never allows the broker topic aliases);
- the consumer takes every message held at once, and their acknowledgements go out as one write.

Backpressure: above the high-water mark the inbox stops reading, so TCP pushes back and the
broker keeps the backlog for the persistent session. The Receive Maximum does not bound it:
Mosquitto 2.0 sends past it (docs/reliability.md, "Backpressure, and a lag that tells the truth"),
and MQTT 3.1.1 has none.

Lag (contract 7.5) counts from the oldest message offered and not applied: a message held or in
a batch being written counts from its arrival, and what the broker may still hold for the hub
counts from the last moment the hub is known to have read everything the broker could send it.
The hub knows that from a PINGREQ: TCP keeps order, so when its PINGRESP is read, everything the
broker sent before answering has been read too; if the in-flight window was not full by then,
the broker was free to send more and had nothing. Whenever the window fills or reading pauses,
the broker may be holding messages back, and the hub asks again after each batch.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import time
from typing import Any, NamedTuple

import aiomqtt
from paho.mqtt import client as paho
from paho.mqtt.enums import MQTTErrorCode

# Stop reading the socket above either mark, and read again once the consumer took the messages.
HIGH_WATER_MESSAGES = 20_000
HIGH_WATER_BYTES = 8 * 1024 * 1024  # 40 full frames: 400,000 events
READ_BYTES = 256 * 1024  # one recv's size: a few thousand small messages


class Received(NamedTuple):
    topic: str
    payload: bytes
    mid: int  # the packet id to acknowledge; 0 at QoS 0
    qos: int


class CatchUp:
    """When ingest last had read everything the broker could send it; kept across connections,
    since the broker queues for the persistent session while the hub is away."""

    def __init__(self) -> None:
        self._at = time.monotonic()
        self._behind = True  # the broker may hold messages the hub has not read

    @property
    def behind(self) -> bool:
        return self._behind

    @property
    def unread_since(self) -> float | None:
        return self._at if self._behind else None

    def may_fall_behind(self) -> None:
        """The broker may hold messages back from now (the window filled, reading paused, the
        connection ended); from before now it held none, if the hub was caught up."""
        if not self._behind:
            self._at, self._behind = time.monotonic(), True

    def caught_up(self, at: float) -> None:
        self._at, self._behind = at, False


def parse_publish(
    header: int, packet: bytes | bytearray, v5: bool, start: int = 0, stop: int | None = None
) -> Received | None:
    """The message of a PUBLISH packet whose variable header and payload are `packet[start:stop]`
    (all of `packet` by default); None for QoS 2 (the hub subscribes at QoS 1, so a broker may not
    send it) and for a packet shorter than its own fields say. Read in place: a read's buffer holds
    many packets, and slicing each out first cost a copy of it."""
    stop = len(packet) if stop is None else stop
    qos = (header & 0x06) >> 1
    if qos > 1 or stop - start < 2:
        return None
    end = start + 2 + (packet[start] << 8 | packet[start + 1])
    if end + 2 * qos > stop:
        return None
    topic = packet[start + 2 : end].decode("utf-8", "replace")
    mid = 0
    if qos:
        mid = packet[end] << 8 | packet[end + 1]
        end += 2
    if v5:  # skip the properties: a variable byte integer length, then that many bytes
        length, shift = 0, 0
        while end < stop:
            byte = packet[end]
            end += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        end += length
    if end > stop:
        return None
    return Received(topic, bytes(packet[end:stop]), mid, qos)


class _BufferedSocket:
    """The session's socket for paho, serving paho's small reads from one large `recv`."""

    def __init__(self, sock: paho.SocketLike) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0
        self.ran_dry = False  # the last read found nothing to read now

    def take_publishes(self, v5: bool) -> list[Received]:
        """The whole QoS 0/1 PUBLISH packets at the head of what was read, parsed and consumed;
        stops at any other packet or one not wholly read, which paho then reads."""
        buffer, pos, size = self._buffer, self._pos, len(self._buffer)
        taken: list[Received] = []
        while pos < size:
            header = buffer[pos]
            if header & 0xF0 != 0x30:
                break
            length, shift, end = 0, 0, pos + 1
            while end < size and shift < 28:
                byte = buffer[end]
                end += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            else:  # the length is cut off, or malformed: paho's reading decides
                break
            if end + length > size:
                break
            message = parse_publish(header, buffer, v5, end, end + length)
            if message is None:
                break
            taken.append(message)
            pos = end + length
        self._pos = pos
        return taken

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._buffer):
            try:
                self._buffer = self._sock.recv(READ_BYTES)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                self.ran_dry = True
                raise
            self._pos = 0
            if not self._buffer:
                return b""  # the broker closed the connection
        chunk = self._buffer[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Inbox:
    """Messages received on one connected session and not yet applied."""

    def __init__(self, client: aiomqtt.Client, window: int, catch_up: CatchUp) -> None:
        self._client = client
        self._paho: paho.Client = client._client
        self._paho_handle_pingresp = self._paho._handle_pingresp
        self._v5 = self._paho.protocol == paho.MQTTv5
        self._loop = asyncio.get_running_loop()
        self._window = window  # the Receive Maximum the session asked for
        self._catch_up = catch_up
        self._messages: list[Received] = []
        self._bytes = 0
        self._first_at = 0.0  # monotonic time the oldest held message arrived
        self._arrived = asyncio.Event()
        self._taken: list[Received] = []  # taken by the consumer and not yet acknowledged
        self.taken_first_at = 0.0  # monotonic time the oldest of them arrived
        self._probe_sent_at: float | None = None  # a PINGREQ of ours awaits its PINGRESP
        self._fd = -1
        self._socket: _BufferedSocket | None = None
        self._reading = False

    def start(self) -> None:
        """Take over the session's reads from aiomqtt (call once connected)."""
        sock = self._paho.socket()
        if sock is None:
            raise aiomqtt.MqttError("the MQTT connection closed before it could be read")
        self._socket = _BufferedSocket(sock)
        self._paho._sock = self._socket
        self._paho._handle_publish = self._handle_publish  # type: ignore[method-assign]
        self._paho._handle_pingresp = self._handle_pingresp  # type: ignore[method-assign]
        self._fd = sock.fileno()
        self._loop.remove_reader(self._fd)  # aiomqtt's reader: one packet per readiness
        # A resumed session's backlog follows the CONNACK at once: what aiomqtt read of it is taken over.
        while not self._client._queue.empty():
            message = self._client._queue.get_nowait()
            payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
            self._hold([Received(str(message.topic), payload, message.mid, message.qos)])
        self._resume()

    def stop(self) -> None:
        """Stop reading: above the high-water mark, and for good when the connection ends."""
        if self._reading and self._connected():
            self._loop.remove_reader(self._fd)
        self._reading = False
        self._catch_up.may_fall_behind()

    @property
    def oldest_offered(self) -> float | None:
        """Monotonic time of the oldest message offered to the hub and not yet applied: taken and not
        acknowledged, held, or possibly still in the broker since the hub last read all it could send."""
        times = (
            self.taken_first_at if self._taken else None,
            self._first_at if self._messages else None,
            self._catch_up.unread_since,
        )
        return min((t for t in times if t is not None), default=None)

    async def take(self) -> list[Received]:
        """Every message held, waiting for at least one; MqttError once the connection is lost.
        The consumer acknowledges them (`ack`) before it takes again."""
        while not self._messages:
            self._arrived.clear()
            waiter = self._loop.create_task(self._arrived.wait())
            try:
                await asyncio.wait((waiter, self._client._disconnected), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if self._client._disconnected.done() and not self._messages:
                raise aiomqtt.MqttError("disconnected") from self._client._disconnected.exception()
        self._taken, self.taken_first_at = self._messages, self._first_at
        self._messages, self._bytes = [], 0
        if not self._reading and self._connected():
            self._resume()
        return self._taken

    def ack(self) -> None:
        """Acknowledge the QoS 1 messages taken, in one write."""
        mids = [m.mid for m in self._taken if m.qos == 1]
        self._taken = []
        if mids and self._connected():
            packet = b"".join([_PUBACK.pack(paho.PUBACK, 2, mid) for mid in mids])
            self._paho._packet_queue(paho.PUBACK, packet, 0, 0)
        self._probe()

    def _connected(self) -> bool:
        """This connection's socket is still open (paho closes it when the connection drops)."""
        return self._socket is not None and self._paho._sock is self._socket

    def _handle_publish(self) -> MQTTErrorCode:
        """paho's handler for an inbound PUBLISH, for the packet paho has just read."""
        message = parse_publish(self._paho._in_packet["command"], self._paho._in_packet["packet"], self._v5)
        if message is None:
            return paho.MQTT_ERR_PROTOCOL
        self._hold([message])
        return paho.MQTT_ERR_SUCCESS

    def _handle_pingresp(self) -> MQTTErrorCode:
        """paho's handler for a PINGRESP (its keepalive's or our probe's)."""
        sent_at, self._probe_sent_at = self._probe_sent_at, None
        if sent_at is not None and self._reading and not self._window_full():
            self._catch_up.caught_up(sent_at)
        return self._paho_handle_pingresp()

    def _probe(self) -> None:
        """Ask the broker whether it holds more (see the module's docstring)."""
        if self._catch_up.behind and self._probe_sent_at is None and self._connected():
            self._probe_sent_at = time.monotonic()
            self._paho._send_pingreq()

    def _hold(self, messages: list[Received]) -> None:
        if not messages:
            return
        if not self._messages:
            self._first_at = time.monotonic()
            self._arrived.set()
        self._messages += messages
        self._bytes += sum(len(message.payload) for message in messages)
        self._paho._last_bytes_received = paho.time_func()  # paho's keepalive: the broker is there

    def _resume(self) -> None:
        self._loop.add_reader(self._fd, self._read)
        self._reading = True
        self._loop.call_soon(self._read)  # bytes already buffered raise no readiness; nor does an idle socket

    def _full(self) -> bool:
        return len(self._messages) >= HIGH_WATER_MESSAGES or self._bytes >= HIGH_WATER_BYTES

    def _window_full(self) -> bool:
        return len(self._messages) + len(self._taken) >= self._window

    def _read(self) -> None:
        sock = self._socket
        if not self._reading or sock is None or not self._connected():
            return
        sock.ran_dry = False
        try:
            while not self._full() and not sock.ran_dry:
                if self._paho._in_packet["command"] == 0:  # paho is between packets
                    self._hold(sock.take_publishes(self._v5))
                if self._paho.loop_read() != paho.MQTT_ERR_SUCCESS:
                    break
        except Exception as exc:  # noqa: BLE001 - as aiomqtt's reader: a failed read means the connection is gone
            if not self._client._disconnected.done():
                self._client._disconnected.set_exception(exc)
            return
        if not self._connected():  # paho closed the socket and took it off the loop
            self._reading = False
            return
        if self._window_full():
            self._catch_up.may_fall_behind()
        if self._full():
            self.stop()
        self._probe()


_PUBACK = struct.Struct("!BBH")
