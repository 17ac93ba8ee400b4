"""Generated input through a running hub: published over MQTT, then checked from outside.

The hub's own decoders (checked against how each input was built, in `inputs.problems`) say what
each message must give; the hub must then have published one error report per rejection, applied
every valid event (Redis holds the greatest per berth), and still be alive and ready.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiomqtt
import numpy as np
import orjson
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from parking_hub.ingest.lorawan import DeviceIndex
from parking_hub.store import redis_keys
from sensors_sim.hubapi import Hub
from sensors_sim.publish import MqttUrl, Publisher, client_id
from tests.fuzz.inputs import CAPACITY, LOT, Fuzzed, hub_decode, problems
from tests.integration.hub import redis_client

POLL_S = 0.2


def generate(strategy: st.SearchStrategy[Fuzzed], count: int, seed_value: int) -> list[Fuzzed]:
    """`count` inputs as Hypothesis generates them, repeatable by seed (no shrinking: nothing fails)."""
    out: list[Fuzzed] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(message: Fuzzed) -> None:
        out.append(message)

    collect()
    return out


@dataclass(slots=True)
class Expected:
    """What the hub must make of a stream, from its decoders at two moments (before and after
    publishing: an uplink without a time is stamped on receipt)."""

    error_reports: int = 0
    rejected_events: int = 0
    valid_events: int = 0
    low: np.ndarray = field(default_factory=lambda: np.zeros(CAPACITY, dtype=np.int64))
    high: np.ndarray = field(default_factory=lambda: np.zeros(CAPACITY, dtype=np.int64))
    decoder_problems: list[str] = field(default_factory=list)


def expect(messages: list[Fuzzed], prefix: str, devices: DeviceIndex, start_ms: int, end_ms: int) -> Expected:
    out = Expected()
    for message in messages:
        early = hub_decode(message, prefix, devices, start_ms)
        late = hub_decode(message, prefix, devices, end_ms)
        out.decoder_problems += [f"{message}: {p}" for p in problems(message, early, start_ms)]
        out.error_reports += len(early.rejections)
        out.rejected_events += early.rejected_events
        if early.lot == LOT:
            out.valid_events += len(early.berths)
            np.maximum.at(out.low, np.asarray(early.berths), np.asarray(early.ranks))
            np.maximum.at(out.high, np.asarray(late.berths), np.asarray(late.ranks))
    return out


@dataclass(slots=True)
class Outcome:
    messages: int
    expected: Expected
    error_reports: int = 0
    error_reports_dropped: int = 0
    applied: int = 0
    berths_wrong: int = 0
    alive: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.expected.decoder_problems
            and self.error_reports + self.error_reports_dropped == self.expected.error_reports
            and self.applied == self.expected.valid_events
            and self.berths_wrong == 0
            and self.alive
        )

    def figures(self) -> dict[str, Any]:
        e = self.expected
        return {
            "messages": self.messages,
            "expected_error_reports": e.error_reports,
            "error_reports": self.error_reports,
            "error_reports_dropped": self.error_reports_dropped,
            "rejected_events": e.rejected_events,
            "valid_events": e.valid_events,
            "applied": self.applied,
            "berths_wrong": self.berths_wrong,
            "decoder_problems": len(e.decoder_problems),
            "alive": self.alive,
            "seconds": round(self.seconds, 1),
            "ok": self.ok,
        }


async def _lot_state(redis_url: str) -> tuple[np.ndarray, int]:
    redis = redis_client(redis_url)
    try:
        raw = await redis.get(redis_keys.reports(LOT))
        applied = int(await redis.hget(redis_keys.meta(LOT), "applied") or 0)
    finally:
        await redis.aclose()
    assert raw is None or isinstance(raw, bytes)
    ranks = np.zeros(CAPACITY, dtype=np.int64)
    stored = np.frombuffer(raw or b"", dtype=">i8")[:CAPACITY]
    ranks[: len(stored)] = stored
    return ranks, applied


async def _dropped_reports(hub_url: str) -> int:
    """The hub's count of error reports it gave up on (its backlog full, or the broker too slow)."""
    async with aiohttp.ClientSession() as http, http.get(hub_url + "/metrics") as resp:
        text = await resp.text()
    lines = text.splitlines()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in lines
        if line.startswith("parking_hub_ingest_error_reports_dropped_total")
    )


async def run_through_hub(
    messages: list[Fuzzed],
    *,
    mqtt_url: str,
    redis_url: str,
    hub_url: str,
    prefix: str,
    devices: DeviceIndex,
    settle_s: float,
) -> Outcome:
    """Publish `messages` at QoS 1 to a hub reading `prefix`, wait for it to settle, and compare."""
    started = time.monotonic()
    url = MqttUrl.parse(mqtt_url.partition("?")[0])
    reports = 0
    start_ms = time.time_ns() // 1_000_000
    async with aiomqtt.Client(
        url.host, url.port, username=url.username, password=url.password, identifier=client_id("fuzz-watch")
    ) as watcher:
        await watcher.subscribe(f"{prefix}/v1/lots/+/errors", qos=1)
        await watcher.subscribe(f"{prefix}/v1/errors", qos=1)

        async def count_reports() -> None:
            nonlocal reports
            async for message in watcher.messages:
                body = orjson.loads(message.payload) if isinstance(message.payload, bytes) else {}
                if body.get("code") and body.get("message"):
                    reports += 1

        counter = asyncio.create_task(count_reports())
        async with Publisher(url) as publisher:
            await publisher.publish((m.full_topic(prefix), m.payload) for m in messages)
        expected = expect(messages, prefix, devices, start_ms, time.time_ns() // 1_000_000)
        outcome = Outcome(len(messages), expected)
        async with Hub(hub_url) as hub:
            deadline = time.monotonic() + settle_s
            while True:
                ranks, outcome.applied = await _lot_state(redis_url)
                outcome.error_reports_dropped = await _dropped_reports(hub_url)
                outcome.error_reports = reports
                settled = (
                    outcome.applied >= expected.valid_events
                    and reports + outcome.error_reports_dropped >= expected.error_reports
                )
                if settled or time.monotonic() > deadline:
                    break
                await asyncio.sleep(POLL_S)
            outcome.berths_wrong = int(((ranks < expected.low) | (ranks > expected.high)).sum())
            status, _ = await hub.get("/readyz")
            outcome.alive = status == 200
        counter.cancel()
    outcome.seconds = time.monotonic() - started
    return outcome
