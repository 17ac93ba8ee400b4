"""`sensors-sim load`: publish berth events at a target rate (or as fast as possible) and measure.

Load traffic is random flips spread over the city by capacity, stamped with the wall clock. One lot
(the first in the registry) is kept apart as a probe: twice a second one report goes to it, and
the hub's `GET /v1/lots/{probe}` is polled until `updated_at` shows it. The time from the broker's
acknowledgement of the probe to its visibility is the freshness reported at the end.

In the native format each lot has a gateway (`load-{lot}`) that numbers its frames and answers the
hub's resync requests with what it sent; the answers are not part of the rate.
"""

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import orjson

from sensors_sim.gateways import Gateways
from sensors_sim.hubapi import Hub, iso_ms
from sensors_sim.publish import PUBLISH_WINDOW, MqttUrl, Outgoing, Publisher
from sensors_sim.registry import Registry
from sensors_sim.resync import ResyncCounts, ResyncRequests

PROBE_EVERY_S = 0.5
PROBE_POLL_S = 0.005
PROBE_GIVE_UP_S = 10.0
PROGRESS_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class LoadOptions:
    duration: float
    rate: float | None = None  # events per second; None: as fast as the broker takes them
    per_berth: bool = False  # single-sensor messages instead of batch frames
    batch: int = 100  # events per batch frame
    topic_prefix: str = "parking"
    seed: int = 1


@dataclass(slots=True)
class LoadReport:
    messages: int = 0
    events: int = 0
    acked_messages: int = 0
    acked_events: int = 0
    seconds: float = 0.0
    freshness_ms: list[float] = field(default_factory=list)
    probes_lost: int = 0
    hub_applied: int | None = None
    resync: ResyncCounts | None = None  # None: no gateways (per-berth)

    def acknowledged(self, events: int) -> None:
        self.acked_messages += 1
        self.acked_events += events

    def lines(self) -> list[str]:
        secs = max(self.seconds, 1e-9)
        out = [
            f"sent {self.messages:,} messages ({self.events:,} events) in {self.seconds:.1f} s",
            (
                f"acknowledged {self.acked_messages:,} messages ({self.acked_events:,} events): "
                f"{self.acked_events / secs:,.0f} events/s, {self.acked_messages / secs:,.0f} messages/s"
            ),
        ]
        if self.resync is not None:
            out.append(self.resync.line())
        if self.hub_applied is not None:
            out.append(
                f"hub applied {self.hub_applied:,} events meanwhile ({self.hub_applied / secs:,.0f}/s)"
            )
        if self.freshness_ms or self.probes_lost:
            ms = sorted(self.freshness_ms) or [float("nan")]
            p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
            out.append(
                f"freshness (acknowledged -> visible in GET /v1/lots): {len(self.freshness_ms)} probes, "
                f"p50 {statistics.median(ms):.0f} ms, p99 {p99:.0f} ms, max {ms[-1]:.0f} ms"
                + (
                    f"; {self.probes_lost} not visible within {PROBE_GIVE_UP_S:.0f} s"
                    if self.probes_lost
                    else ""
                )
            )
        return out


class LoadGenerator:
    """Random berth flips, lot chosen by capacity, the probe lot left out (seeded)."""

    def __init__(self, registry: Registry, options: LoadOptions) -> None:
        self._registry = registry
        self._options = options
        self._rng = np.random.default_rng(options.seed)
        weight = registry.capacity.astype(np.float64)
        if len(weight) > 1:
            weight[0] = 0.0
        self._p = weight / weight.sum()
        self._offsets = registry.offsets
        present = np.full(len(weight), not options.per_berth)
        self.gateways = Gateways(registry, present, options.topic_prefix, name_prefix="load-")

    def messages(self, events: int) -> Iterator[tuple[Outgoing, int]]:
        """(topic, payload) messages carrying `events` events in all, and each one's event count."""
        reg, prefix, now = self._registry, self._options.topic_prefix, time.time_ns() // 1_000_000
        size = 1 if self._options.per_berth else self._options.batch
        while events > 0:
            n = min(size, events)
            events -= n
            lot = int(self._rng.choice(len(self._p), p=self._p))
            berth = self._rng.integers(0, reg.capacity[lot], n)
            occupied = self._rng.integers(0, 2, n)
            lot_id = reg.lot_ids[lot]
            if self._options.per_berth:
                body = orjson.dumps({"occupied": int(occupied[0]), "ts": now})
                yield (f"{prefix}/v1/lots/{lot_id}/berths/{int(berth[0])}", body), 1
                continue
            self.gateways.remember(self._offsets[lot] + berth, now * 2 + occupied)
            yield (self.gateways.topic(lot), self.gateways.frame(lot, berth, occupied, np.full(n, now))), n


async def run_load(registry: Registry, url: MqttUrl, hub: Hub | None, options: LoadOptions) -> LoadReport:
    report = LoadReport()
    generator = LoadGenerator(registry, options)
    before = (await hub.get_ok("/v1/summary"))["events_applied"] if hub else None
    started = time.monotonic()
    listening: contextlib.AbstractAsyncContextManager[ResyncRequests | None] = (
        contextlib.nullcontext()
        if options.per_berth
        else ResyncRequests(url, options.topic_prefix, generator.gateways)
    )
    async with (
        Publisher(url) as publisher,
        Publisher(url) as prober,
        listening as resyncs,
        asyncio.TaskGroup() as group,
    ):
        report.resync = resyncs.counts if resyncs is not None else None
        progress = group.create_task(_progress(report, started), name="sensors-sim.load.progress")
        probes = None
        if hub is not None and len(registry.lot_ids) > 1:  # the probe lot must be free of load
            probes = group.create_task(
                _probe(prober, hub, registry, options, report), name="sensors-sim.load.probe"
            )
        deadline = started + options.duration
        frame = 1 if options.per_berth else options.batch
        chunk = PUBLISH_WINDOW * frame
        while (now := time.monotonic()) < deadline:
            for lot, answer in resyncs.answers() if resyncs is not None else ():
                await publisher.send(generator.gateways.topic(lot), answer.payload)
            due = chunk
            if options.rate is not None:
                due = min(due, int(options.rate * (now - started)) - report.events)
                if due < frame:  # wait for a whole message's worth
                    await asyncio.sleep(0.005)
                    continue
            for (topic, payload), events in generator.messages(due):
                await publisher.send(topic, payload, then=partial(report.acknowledged, events))
                report.messages += 1
                report.events += events
        await publisher.drain()
        report.seconds = time.monotonic() - started
        progress.cancel()
        if probes is not None:
            probes.cancel()
    if hub is not None and before is not None:
        await asyncio.sleep(1.0)  # what was acknowledged last has a second to land
        report.hub_applied = (await hub.get_ok("/v1/summary"))["events_applied"] - before
    return report


async def _probe(
    publisher: Publisher, hub: Hub, registry: Registry, options: LoadOptions, report: LoadReport
) -> None:
    lot_id = registry.lot_ids[0]
    topic = f"{options.topic_prefix}/v1/lots/{lot_id}/berths/0"
    occupied = 0
    while True:
        await asyncio.sleep(PROBE_EVERY_S)
        occupied ^= 1
        ts = time.time_ns() // 1_000_000
        await publisher.publish([(topic, orjson.dumps({"occupied": occupied, "ts": ts}))])
        acked = time.monotonic()
        while True:
            body = await hub.get_ok(f"/v1/lots/{lot_id}")
            if iso_ms(body.get("updated_at")) >= ts:
                report.freshness_ms.append((time.monotonic() - acked) * 1000)
                break
            if time.monotonic() - acked > PROBE_GIVE_UP_S:
                report.probes_lost += 1
                break
            await asyncio.sleep(PROBE_POLL_S)


async def _progress(report: LoadReport, started: float) -> None:
    end = "\r" if sys.stderr.isatty() else "\n"
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        secs = time.monotonic() - started
        fresh = (
            f", freshness p50 {statistics.median(report.freshness_ms):.0f} ms" if report.freshness_ms else ""
        )
        print(
            f"sensors-sim load: {secs:5.0f}s  sent {report.messages:,} messages ({report.events:,} events)  "
            f"acked {report.acked_events:,} events: {report.acked_events / secs:,.0f} events/s, "
            f"{report.acked_messages / secs:,.0f} messages/s{fresh}   ",
            end=end,
            file=sys.stderr,
            flush=True,
        )
