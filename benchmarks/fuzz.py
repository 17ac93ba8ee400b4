"""Fuzzing in its big size: generated and mutated MQTT input through the decoders and a real hub.

    python -m benchmarks.fuzz [--generated 5000] [--mutants 95000] [--seed 1]

Hypothesis builds `--generated` messages on every input path (batch frames, per-berth messages,
status, The Things Stack and ChirpStack uplinks around every vendor's bytes), each valid or broken
in a known way; `--mutants` more are those with their bytes cut, spliced and overwritten. All go
through the decoders in this process (each checked against how it was built, or against the
rules every decoded message obeys) and then, at QoS 1, through a hub process with a private
Redis and Mosquitto: each rejection must come back on the errors topic, every valid event must be
applied, and the hub must still be ready. Prints one JSON line; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from parking_hub.embedded import mqtt_broker, redis_server
from sensors_sim.hubapi import Hub, wait_ready
from tests.faults.servers import HubProcess
from tests.fuzz.inputs import devices, hub_decode, messages, mutants, problems, registry_feature
from tests.fuzz.through_hub import generate, run_through_hub

PREFIX = "fuzz"


def progress(message: str) -> None:
    print(f"benchmarks.fuzz: {message}", file=sys.stderr, flush=True)


async def through_a_hub(stream: list[Any], workdir: Path) -> dict[str, Any]:
    registry = workdir / "fuzz-lots.json"
    registry.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": [registry_feature()]}))
    with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
        load = [sys.executable, "-m", "parking_hub", "lots", "load", "--redis-url", redis_url, str(registry)]
        await asyncio.to_thread(subprocess.run, load, check=True, capture_output=True)
        hub = HubProcess(redis_url, mqtt_url, "fuzz-hub", PREFIX, workdir / "hub.log")
        await hub.start()
        try:
            async with Hub(hub.base_url) as api:
                await wait_ready(api, 120)
            outcome = await run_through_hub(
                stream,
                mqtt_url=mqtt_url,
                redis_url=redis_url,
                hub_url=hub.base_url,
                prefix=PREFIX,
                devices=devices(),
                settle_s=600,
            )
            figures = outcome.figures() | {"hub_alive_process": hub.alive()}
            if not outcome.ok:
                progress(f"the hub's log ends:\n{hub.log_tail()}")
            return figures
        finally:
            await hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--generated", type=int, default=5_000, help="inputs Hypothesis builds")
    parser.add_argument("--mutants", type=int, default=95_000, help="byte-level mutants of those")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    now_ms = time.time_ns() // 1_000_000
    started = time.monotonic()
    progress(f"generating {args.generated:,} inputs with Hypothesis")
    corpus = generate(messages(now_ms), args.generated, args.seed)
    stream = corpus + mutants(corpus, args.mutants, args.seed)
    result: dict[str, Any] = {"generated": len(corpus), "mutants": args.mutants, "inputs": len(stream)}
    result["generate_s"] = round(time.monotonic() - started, 1)
    progress(f"{len(stream):,} inputs through the decoders")
    index = devices()
    failures = [
        f"{m}: {p}" for m in stream for p in problems(m, hub_decode(m, PREFIX, index, now_ms), now_ms)
    ]
    result["decoder_failures"] = len(failures)
    for line in failures[:10]:
        progress(line)
    progress(f"{len(stream):,} inputs through a hub")
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        result["hub"] = asyncio.run(through_a_hub(stream, Path(tmp)))
    result["seconds"] = round(time.monotonic() - started, 1)
    print(orjson.dumps(result).decode(), flush=True)
    if failures or not result["hub"]["ok"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
