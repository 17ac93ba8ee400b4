"""LoRaWAN uplinks decoded in process: a batch at once against one at a time, CPU time per uplink.

    python -m benchmarks.uplinks [--quick]

No servers: the decoding that ingest does for each batch, timed with the process's CPU clock, so
other work on the machine changes the figures less than it changes a throughput. For The Things
Stack and ChirpStack envelopes of Nwave status frames, in batches of several sizes: `one_at_a_time`
is `decode_uplink` per message into the batch builder (the hub before batch decoding),
`together` is `decode_uplinks` and its columns into the builder (the hub now). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable

import orjson

from benchmarks.cstream import NWAVE_CODEC, NWAVE_STATUS, uplink_devices, uplink_stream
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.lorawan import DeviceIndex, decode_uplink, decode_uplinks
from parking_hub.registry import Device, Lot
from parking_hub.store.layout import Layout

BATCHES = (30, 300, 3_000)
ROUNDS = 5  # the best of these, per figure


def chirpstack_stream(count: int) -> tuple[list[str], list[bytes]]:
    """ChirpStack v4 uplinks of Nwave status frames, device by device as they would interleave."""
    euis = [f"{i:016x}" for i in range(len(uplink_devices()))]
    start = time.time_ns() // 1_000_000 - count
    topics, payloads = [], []
    for k in range(count):
        eui = euis[k % len(euis)]
        when = dt.datetime.fromtimestamp((start + k) / 1000, dt.UTC).isoformat(timespec="microseconds")
        doc = {
            "deduplicationId": f"3ac7e3c4-4401-4b8d-9386-{k:012d}",
            "time": when,
            "deviceInfo": {"applicationId": "bench-app", "deviceName": eui, "devEui": eui},
            "devAddr": "00189440",
            "fPort": 1,
            "fCnt": k // len(euis),
            "data": NWAVE_STATUS[k % 2],
        }
        topics.append(f"application/bench-app/device/{eui}/event/up")
        payloads.append(orjson.dumps(doc))
    return topics, payloads


def tts_stream(count: int) -> tuple[list[str], list[bytes]]:
    """The ingest benchmark's TTS stream, its topics interleaved as the broker would deliver them."""
    stream = uplink_stream(count)
    per_topic = [lines.split(b"\n")[:-1] for lines in stream.lines]
    topics, payloads = [], []
    for k in range(len(per_topic[0])):
        for topic, lines in zip(stream.topics, per_topic, strict=True):
            topics.append(topic)
            payloads.append(lines[k])
    return topics, payloads


def registry() -> tuple[DeviceIndex, Layout]:
    names = uplink_devices() + [f"{i:016x}" for i in range(len(uplink_devices()))]
    devices = {name: Device(berth % len(uplink_devices()), NWAVE_CODEC) for berth, name in enumerate(names)}
    lot = Lot(
        "bench-lorawan", "LoRaWAN", "op", "off_street", len(uplink_devices()), 120.0, 36.2, devices=devices
    )
    return DeviceIndex([lot]), Layout.build({lot.id: lot.capacity})


def one_at_a_time(
    topics: list[str], payloads: list[bytes], devices: DeviceIndex, now_ms: int
) -> BatchBuilder:
    builder = BatchBuilder()
    for topic, payload in zip(topics, payloads, strict=True):
        builder.add(decode_uplink(topic, payload, devices, now_ms))
    return builder


def together(topics: list[str], payloads: list[bytes], devices: DeviceIndex, now_ms: int) -> BatchBuilder:
    builder = BatchBuilder()
    uplinks = decode_uplinks(topics, payloads, devices, now_ms)
    builder.add_reports(uplinks.lots, uplinks.berths, uplinks.ranks)
    for _, decoded in uplinks.others:
        builder.add(decoded)
    return builder


Way = Callable[[list[str], list[bytes], DeviceIndex, int], BatchBuilder]


def cpu_us_per_uplink(way: Way, topics: list[str], payloads: list[bytes], batch: int) -> float:
    devices, layout = registry()
    now_ms = time.time_ns() // 1_000_000
    best = float("inf")
    for _ in range(ROUNDS):
        start, reports = time.process_time(), 0
        for first in range(0, len(topics), batch):
            built = way(topics[first : first + batch], payloads[first : first + batch], devices, now_ms)
            built.build(layout)
            reports += built.events
        best = min(best, time.process_time() - start)
        if reports != len(topics):  # every uplink is a valid status frame
            raise SystemExit(f"{way.__name__} made {reports} reports of {len(topics)} uplinks")
    return best / len(topics) * 1e6


def run(quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    count = 6_000 if quick else 60_000
    streams = {"tts": tts_stream(count), "chirpstack": chirpstack_stream(count)}
    result: dict[str, dict[str, dict[str, float]]] = {}
    for name, (topics, payloads) in streams.items():
        result[name] = {}
        for batch in BATCHES:
            alone = cpu_us_per_uplink(one_at_a_time, topics, payloads, batch)
            both = cpu_us_per_uplink(together, topics, payloads, batch)
            result[name][str(batch)] = {"one_at_a_time_us": alone, "together_us": both, "ratio": both / alone}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uplinks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the uplinks")
    print(orjson.dumps(run(parser.parse_args().quick)).decode())


if __name__ == "__main__":
    main()
