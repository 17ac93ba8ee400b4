"""The inbox's own reading of PUBLISH packets from what one socket read holds."""

from __future__ import annotations

import pytest

from parking_hub.ingest.inbox import READ_BYTES, Received, _BufferedSocket, parse_publish

PINGRESP = b"\xd0\x00"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(
    topic: str, payload: bytes, *, qos: int = 1, mid: int = 7, properties: bytes | None = b""
) -> bytes:
    """One PUBLISH packet; `properties` None for MQTT 3.1.1 (no properties field)."""
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name
    if qos:
        body += mid.to_bytes(2, "big")
    if properties is not None:
        body += varint(len(properties)) + properties
    body += payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


class Reads:
    """A socket whose `recv` returns the given chunks, then would block."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    def recv(self, size: int) -> bytes:
        assert size == READ_BYTES
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)


def buffered(*chunks: bytes) -> _BufferedSocket:
    sock = _BufferedSocket(Reads(*chunks))  # type: ignore[arg-type]
    sock.recv(0)  # the first read, as paho's first `recv` of a packet makes it
    return sock


def test_whole_publishes_are_taken_up_to_the_first_other_packet() -> None:
    first, second = publish("a/1", b'{"x":1}', mid=1), publish("a/2", b"", mid=2)
    sock = buffered(first + second + PINGRESP + publish("a/3", b"z"))
    assert sock.take_publishes(v5=True) == [Received("a/1", b'{"x":1}', 1, 1), Received("a/2", b"", 2, 1)]
    assert sock.recv(2) == PINGRESP  # left for paho, in order
    assert sock.take_publishes(v5=True) == [Received("a/3", b"z", 7, 1)]
    with pytest.raises(BlockingIOError):
        sock.recv(1)


def test_a_packet_split_between_reads_is_left_whole_for_paho() -> None:
    whole = publish("lot/9", b"p" * 300, mid=9)
    sock = buffered(publish("lot/8", b"q", mid=8) + whole[:150], whole[150:])
    assert sock.take_publishes(v5=True) == [Received("lot/8", b"q", 8, 1)]
    assert sock.recv(150) == whole[:150]
    assert sock.take_publishes(v5=True) == []  # nothing whole at the head of this read either


@pytest.mark.parametrize("size", [0, 127, 128, 16_383, 16_384, 200_000])
def test_every_length_of_the_remaining_length_field(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sock = buffered(publish("t", payload) + publish("t", b"after", mid=8))
    assert sock.take_publishes(v5=True) == [Received("t", payload, 7, 1), Received("t", b"after", 8, 1)]


def test_mqtt5_properties_are_skipped_and_311_packets_have_none() -> None:
    properties = b"\x01\x01" + b"\x03\x00\x10application/json"  # payload format, content type
    assert parse_publish(0x32, publish("t", b"body", properties=properties)[2:], v5=True) == Received(
        "t", b"body", 7, 1
    )
    assert buffered(publish("t", b"body", properties=None)).take_publishes(v5=False) == [
        Received("t", b"body", 7, 1)
    ]


def test_qos0_carries_no_packet_id() -> None:
    assert buffered(publish("t", b"x", qos=0)).take_publishes(v5=True) == [Received("t", b"x", 0, 0)]


def test_qos2_and_malformed_packets_are_left_to_paho() -> None:
    sock = buffered(publish("t", b"x", qos=2))
    assert sock.take_publishes(v5=True) == []
    short = b"\x32\x03\x00\x05t"  # names a 5-byte topic in a 3-byte body
    assert parse_publish(0x32, short[2:], v5=True) is None
    assert buffered(short).take_publishes(v5=True) == []
    too_long_length = b"\x30\xff\xff\xff\xff\x01"
    assert buffered(too_long_length).take_publishes(v5=True) == []
