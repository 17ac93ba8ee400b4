"""Memory for a country's worth of berths: Redis, a `--role all` hub and an ingest-only hub.

    python -m benchmarks.memory            # 10,000,000 berths in 50,000 lots; a few minutes
    python -m benchmarks.memory --quick    # 1,000,000 berths in 5,000 lots

The simulator's city in a private Redis and Mosquitto (or the embedded servers), every berth
reported once through the hub's own writer; then the RSS of a `serve --role all` process with its
mirror loaded, and of a `serve --role ingest` process. The same figures as step 6 of
`benchmarks.ingest`, without its throughput runs. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks.ingest import memory
from parking_hub.embedded import mqtt_broker, redis_server

FULL = {"lots": 50_000, "berths": 10_000_000}
QUICK = {"lots": 5_000, "berths": 1_000_000}
GOAL_MIB = 1024  # Redis and a --role all hub together, for 10,000,000 berths


async def run(quick: bool) -> dict[str, Any]:
    size = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
            result = await memory(redis_url, mqtt_url, workdir, size["lots"], size["berths"])
    return result | {"goal_total_mib": GOAL_MIB}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the city")
    args = parser.parse_args()
    print(orjson.dumps(asyncio.run(run(args.quick))).decode())


if __name__ == "__main__":
    main()
