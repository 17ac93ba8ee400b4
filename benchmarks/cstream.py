"""Single-message QoS 1 load from the C publisher, and the C subscriber that is its baseline.

`mosquitto_pub -l -q 1 -M 1000` sends a message per stdin line, all on one topic, so a stream is
one publisher process per topic. At QoS 1 it drops whatever it has not sent yet when its stdin
ends, so stdin stays open until the receiver being measured has everything, and closes only then.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import shutil
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson

# Publisher processes (and so distinct topics) per stream: with 1-4 here the generator, not the
# C subscriber, set the subscriber's rate.
STREAMS = 16
IN_FLIGHT = 1_000
PUBACK_LINE = b"received PUBACK"  # what `mosquitto_pub -d` prints per acknowledged message
TTS_APP = "bench-app"
# Nwave NPS405 status uplinks (f_port 1): bit 0 is the occupancy.
NWAVE_CODEC = "nwave-nps405"
NWAVE_STATUS = tuple(base64.b64encode(status).decode() for status in (b"\x94", b"\x95"))


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"install mosquitto-clients ({name}) for the single-message phases")
    return found


def broker_address(mqtt_url: str) -> tuple[str, str]:
    host, _, port = mqtt_url.removeprefix("mqtt://").partition("?")[0].partition(":")
    return host, port


@dataclass(frozen=True, slots=True)
class Stream:
    """Messages split over topics: `lines[i]` is every payload for `topics[i]`, newline-terminated."""

    topics: list[str]
    lines: list[bytes]
    count: int
    subscription: str  # a filter that covers every topic, for the C subscriber


def _stream(
    topics: list[str], count: int, payload: Callable[[int, int, int], bytes], subscription: str
) -> Stream:
    """`payload(i, k, ts)` is message k on topics[i]; each topic's `ts` rises by 1 ms up to now."""
    per_topic = count // len(topics)
    start = time.time_ns() // 1_000_000 - per_topic
    lines = [b"".join(payload(i, k, start + k) + b"\n" for k in range(per_topic)) for i in range(len(topics))]
    return Stream(topics, lines, per_topic * len(topics), subscription)


def berth_stream(prefix: str, lots: Sequence[str], count: int) -> Stream:
    """Single-berth messages, one berth per topic."""
    topics = [f"{prefix}/v1/lots/{lots[i % len(lots)]}/berths/{i}" for i in range(STREAMS)]
    return _stream(
        topics,
        count,
        lambda _, k, ts: orjson.dumps({"occupied": k % 2, "ts": ts}),
        f"{prefix}/v1/lots/#",
    )


def uplink_devices() -> list[str]:
    return [f"bench-dev-{i:02d}" for i in range(STREAMS)]


def uplink_stream(count: int) -> Stream:
    """The Things Stack v3 uplinks of Nwave status frames, one device per topic, `f_cnt` rising."""
    devices = uplink_devices()

    def uplink(i: int, k: int, ts: int) -> bytes:
        received = dt.datetime.fromtimestamp(ts / 1000, dt.UTC).isoformat(timespec="milliseconds")
        return orjson.dumps(
            {
                "end_device_ids": {"device_id": devices[i], "application_ids": {"application_id": TTS_APP}},
                "received_at": received.replace("+00:00", "Z"),
                "uplink_message": {"f_port": 1, "f_cnt": k, "frm_payload": NWAVE_STATUS[k % 2]},
            }
        )

    return _stream(
        [f"v3/{TTS_APP}/devices/{device}/up" for device in devices],
        count,
        uplink,
        f"v3/{TTS_APP}/devices/+/up",
    )


class Publishers:
    """Running publisher processes, one per topic of a stream."""

    def __init__(self, stream: Stream, procs: list[asyncio.subprocess.Process], count_acks: bool) -> None:
        self.stream = stream
        self.procs = procs
        self.count_acks = count_acks
        self.started = 0.0

    async def send(self) -> None:
        """Hands every line to the publishers; returns once they have read them, not once sent."""
        self.started = time.perf_counter()
        for proc, lines in zip(self.procs, self.stream.lines, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(lines)
        await asyncio.gather(*(proc.stdin.drain() for proc in self.procs if proc.stdin is not None))

    async def all_acked(self) -> float:
        """Seconds from `send` to the broker's PUBACK for every message (needs `count_acks`)."""
        assert self.count_acks

        async def acks(proc: asyncio.subprocess.Process, expected: int) -> None:
            assert proc.stdout is not None
            seen, tail = 0, b""
            while seen < expected:
                chunk = await proc.stdout.read(65536)
                if not chunk:
                    raise SystemExit("mosquitto_pub ended before every message was acknowledged")
                text = tail + chunk
                seen += text.count(PUBACK_LINE)
                tail = text[-len(PUBACK_LINE) + 1 :]  # a marker cut by the chunk boundary

        per_topic = self.stream.count // len(self.procs)
        await asyncio.gather(*(acks(proc, per_topic) for proc in self.procs))
        return time.perf_counter() - self.started


@asynccontextmanager
async def publishers(mqtt_url: str, stream: Stream, *, count_acks: bool = False) -> AsyncIterator[Publishers]:
    """Connected publishers, their stdin open until the block ends.

    With `count_acks` each runs with `-d` and a line-buffered stdout (stdbuf), so its PUBACKs can
    be counted as they come: that costs the publisher some speed, so its rate then is a lower bound.
    """
    host, port = broker_address(mqtt_url)
    prefix = [tool("stdbuf"), "-oL"] if count_acks else []
    procs = [
        await asyncio.create_subprocess_exec(
            *prefix,
            tool("mosquitto_pub"),
            *("-h", host, "-p", port, "-i", f"bench-pub-{time.time_ns()}-{i}"),
            *("-l", "-q", "1", "-M", str(IN_FLIGHT), "-t", topic),
            *(["-d"] if count_acks else []),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE if count_acks else asyncio.subprocess.DEVNULL,
        )
        for i, topic in enumerate(stream.topics)
    ]
    await asyncio.sleep(0.5)  # connected
    try:
        yield Publishers(stream, procs, count_acks)
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
        await asyncio.gather(*(proc.wait() for proc in procs))


async def publisher_rate(mqtt_url: str, stream: Stream) -> float:
    """The generator alone: messages/s from the first line to the last PUBACK, with no subscriber."""
    async with publishers(mqtt_url, stream, count_acks=True) as pubs:
        # Read the PUBACK lines while sending: a full stdout pipe would stop a publisher reading stdin.
        acked = asyncio.create_task(pubs.all_acked())
        await pubs.send()
        return stream.count / await acked


async def mosquitto_sub_rate(mqtt_url: str, stream: Stream) -> float:
    """The baseline: messages/s a C `mosquitto_sub -q 1` receives of the stream."""
    host, port = broker_address(mqtt_url)
    sub = await asyncio.create_subprocess_exec(
        tool("mosquitto_sub"),
        *("-h", host, "-p", port, "-q", "1", "-t", stream.subscription, "-C", str(stream.count)),
        stdout=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(0.5)  # subscribed
    async with publishers(mqtt_url, stream) as pubs:
        await pubs.send()
        await sub.wait()
        return stream.count / (time.perf_counter() - pubs.started)
