"""`parking-hub demo`: the whole system on private servers, with the seed city and simulated traffic."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import aiohttp

from parking_hub.config import MqttTarget, RedisTarget, Settings
from parking_hub.embedded import die_with_parent, mqtt_broker, redis_server
from parking_hub.service import serve

log = logging.getLogger(__name__)

TRAFFIC_SEED = 7
READY_POLLS = 300


async def _simulator(*args: str) -> asyncio.subprocess.Process:
    # The simulator is an independent client of the hub, so it runs as its own process.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sensors_sim",
        *args,
        preexec_fn=die_with_parent,
    )


async def _until_ready(base: str) -> None:
    """The simulator starts only once the hub has subscribed, so its start-up resync is not missed."""
    async with aiohttp.ClientSession() as session:
        for _ in range(READY_POLLS):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the hub did not become ready at {base}/readyz; see the log above")


async def run_demo(settings: Settings, rate: float) -> None:
    with tempfile.TemporaryDirectory(prefix="parking-hub-demo-") as tmp:
        workdir = Path(tmp)
        registry = workdir / "seed-city.geojson"
        city = await _simulator("city", "-o", str(registry))  # the seed city: seeds/qingdao.geojson
        if await city.wait() != 0:
            raise RuntimeError("the simulator could not write the seed city")
        with redis_server(workdir) as redis_url, mqtt_broker(workdir) as mqtt_url:
            hub_settings = replace(
                settings,
                redis=RedisTarget.from_url(redis_url),
                mqtt=MqttTarget.from_url(mqtt_url),
                lots=(registry,),
                client_id="parking-hub-demo",
            )
            started = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(serve(hub_settings, started), name="hub")
                await started.wait()
                base = f"http://{settings.http_host}:{settings.http_port}"
                await _until_ready(base)
                print(
                    f"\nparking-hub demo is up: the seed city, live.\n"
                    f"  dashboard   {base}/\n"
                    f"  summary     {base}/v1/summary\n"
                    f"  nearest     {base}/v1/nearest?lat=36.0671&lon=120.3826\n"
                    f"  one lot     {base}/v1/lots/qd-0001\n"
                    f"  redis       {redis_url}\n"
                    f"  mqtt        {mqtt_url}\n"
                    "Press Ctrl+C to stop.\n",
                    flush=True,
                )
                sim = await _simulator(
                    "run",
                    "--lots",
                    str(registry),
                    "--mqtt-url",
                    mqtt_url.partition("?")[0],
                    "--topic-prefix",
                    settings.topic_prefix,
                    "--rate",
                    str(rate),
                    "--seed",
                    str(TRAFFIC_SEED),
                )
                try:
                    await sim.wait()
                    log.error("the simulator stopped with code %s", sim.returncode)
                finally:
                    if sim.returncode is None:
                        sim.terminate()
                        with contextlib.suppress(ProcessLookupError):
                            await sim.wait()
