"""The benchmark's batch-frame load: QoS 1 publishes from a process of its own, so the hub's CPU is
its own. (Single messages come from the C publisher: see benchmarks/cstream.py.)

Protocol with the parent: prints READY once the payloads are built, waits for a line on stdin,
publishes, and prints one JSON line when the broker has acknowledged every message.

    python -m benchmarks.publisher --mqtt-url URL --prefix P --lots N --capacity C \
        --count EVENTS [--rate EVENTS_PER_S] [--ts-start MS] [--frame-events N]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np
import orjson
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion

FRAME_EVENTS = 1_000
IN_FLIGHT = 1_000


def build(args: argparse.Namespace) -> list[tuple[str, bytes]]:
    """Every message, encoded up front: lots round-robin, berths cycling, ts rising per message."""
    rng = np.random.default_rng(1)
    per = args.frame_events
    messages = []
    for k in range(args.count // per):
        lot = f"bench-{k % args.lots:05d}"
        ts = args.ts_start + k
        occupied = rng.integers(0, 2, size=per).tolist()
        start = (k // args.lots * per) % args.capacity
        berths = ((np.arange(per) + start) % args.capacity).tolist()
        body = {"gateway": f"gw-{lot}", "seq": k, "berth": berths, "occupied": occupied, "ts": [ts] * per}
        messages.append((f"{args.prefix}/v1/lots/{lot}/events", orjson.dumps(body)))
    return messages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mqtt-url", required=True)
    parser.add_argument("--prefix", default="parking")
    parser.add_argument("--lots", type=int, required=True)
    parser.add_argument("--capacity", type=int, required=True)
    parser.add_argument("--count", type=int, required=True, help="events in all")
    parser.add_argument("--rate", type=float, default=0.0, help="events/s; 0 = as fast as possible")
    parser.add_argument("--frame-events", type=int, default=FRAME_EVENTS, help="events per batch frame")
    parser.add_argument("--ts-start", type=int, default=time.time_ns() // 1_000_000 - 60_000)
    args = parser.parse_args()

    messages = build(args)
    host, _, port = args.mqtt_url.removeprefix("mqtt://").partition("?")[0].partition(":")
    acked = 0
    all_acked = threading.Event()
    # Publish only while fewer than IN_FLIGHT wait for their ack: left to queue the rest itself,
    # paho stalled here after about 70,000 messages with its queue still full.
    window = threading.BoundedSemaphore(IN_FLIGHT)

    def on_publish(client: paho.Client, userdata: object, mid: int, rc: object, props: object) -> None:
        nonlocal acked
        acked += 1
        window.release()
        if acked == len(messages):
            all_acked.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    client.on_publish = on_publish
    client.max_inflight_messages_set(IN_FLIGHT)
    client.connect(host, int(port))
    client.loop_start()
    print("READY", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    for i, (topic, payload) in enumerate(messages):
        if args.rate:
            due = start + i * args.frame_events / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        window.acquire()
        client.publish(topic, payload, qos=1)
    all_acked.wait()
    elapsed = time.perf_counter() - start
    client.loop_stop()
    client.disconnect()
    print(orjson.dumps({"messages": len(messages), "seconds": elapsed}).decode(), flush=True)


if __name__ == "__main__":
    main()
