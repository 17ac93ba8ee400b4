"""`sensors-sim run`: the simulated city published over MQTT, live or compressed in time.

At a finite `--speed`, simulated time runs that many times faster than the wall clock and reports
carry the wall-clock time their simulated moment maps to: `--speed 60` plays an hour a minute,
with fresh timestamps throughout. With `--speed max` the simulated span is laid out in the
immediate past (it ends now) and published as fast as the broker takes it.

Gateways answer the hub's resync requests (contract 7.4) between steps, in line with the traffic,
so each gateway's frames reach the broker in `seq` order.

Gateway outages use the broker's Last Will. Given `--hub`, each gateway drops off and comes back
only once the hub shows its previous change, because the hub stamps a Will with its own clock
when it reads it; a hub far behind a full-speed run then still sees each Will and return in order.
"""

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import orjson

from sensors_sim.demand import DAY_MS, HOUR_MS
from sensors_sim.encoders import FORMATS, Message
from sensors_sim.hardware import NATIVE, GatewayEvent
from sensors_sim.hubapi import Hub
from sensors_sim.publish import Publisher, drop_with_will
from sensors_sim.resync import ResyncRequests
from sensors_sim.traffic import Clock, Step, Traffic, TrafficOptions
from sensors_sim.truth import Truth

TICK_S = 0.1  # wall time per step at a finite speed
# Simulated time per step, at most: the traffic does not depend on the step size below this.
MAX_STEP_MS = 60_000
PROGRESS_EVERY_S = 5.0
# The hub stamps a Will with its own clock when it reads it. Without a hub to watch, a gateway's
# "online" status after its Will is stamped at least this long after it, so the two keep their order.
ONLINE_AFTER_WILL_MS = 60_000
STATUS_SEEN_WITHIN_S = 300.0  # the hub may be far behind when the simulator runs at full speed
STATUS_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class RunOptions:
    traffic: TrafficOptions
    speed: float | None = 1.0  # None: as fast as possible
    rate: float | None = None  # target berth changes per second; sets the speed
    hours: float | None = None  # simulated span
    duration: float | None = None  # wall-clock seconds


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class CityRun:
    """One run: steps the traffic, publishes what falls due, records the truth."""

    def __init__(self, traffic: Traffic, options: RunOptions, truth: Truth) -> None:
        self.traffic = traffic
        self.truth = truth
        self.publisher: Publisher | None = None  # None: a dry run
        self.hub: Hub | None = None  # watched, when given, for gateway Wills to land
        self.resyncs: ResyncRequests | None = None  # None: requests go unanswered
        self._tasks: asyncio.TaskGroup | None = None  # while running: progress and gateway tasks
        self._acked: list[Message] = []
        self._gateways: dict[int, asyncio.Task[None]] = {}  # each lot's latest drop or return
        self._prefix = options.traffic.topic_prefix
        self._dropped_at: dict[int, int] = {}
        self.published = 0
        self.started = time.monotonic()  # reset when the run starts
        if options.rate is not None:
            self.speed: float | None = options.rate * DAY_MS / 1000 / max(traffic.changes_per_day, 1)
        else:
            self.speed = options.speed
        spans = []
        if options.hours is not None:
            spans.append(round(options.hours * HOUR_MS))
        if options.duration is not None and self.speed is not None:
            spans.append(round(options.duration * 1000 * self.speed))
        self.span_ms = min(spans) if spans else None
        if self.speed is None and self.span_ms is None:
            raise ValueError("--speed max needs --hours: the simulated span is laid out in the past")

    async def run(self) -> None:
        self.started = time.monotonic()
        now = wall_ms()
        start = self.traffic.start_ms
        if self.speed is None:
            clock, step_ms = Clock(start, now - (self.span_ms or 0), 1.0), MAX_STEP_MS
        else:
            clock = Clock(start, now, self.speed)
            step_ms = min(MAX_STEP_MS, max(1, round(TICK_S * 1000 * self.speed)))
        await self._statuses(range(len(self.traffic.registry.lot_ids)), now)
        end = None if self.span_ms is None else start + self.span_ms
        async with asyncio.TaskGroup() as group:
            self._tasks = group
            reporter = group.create_task(self._progress(), name="sensors-sim.progress")
            t = start
            while end is None or t < end:
                t = t + step_ms if end is None else min(t + step_ms, end)
                if self.speed is not None:
                    await asyncio.sleep(max(0.0, (clock.wall_at(t) - wall_ms()) / 1000))
                await self._answer_resyncs(t)
                await self._deliver(self.traffic.step(t, clock))
                self._record()
            if self.publisher is not None:
                await self.publisher.drain()
            self._record()
            reporter.cancel()

    async def _deliver(self, step: Step) -> None:
        """Messages in delivery order, with gateway Wills and reconnects where they fall."""
        for item in _merge(step):
            if isinstance(item, Message):
                await self._send(item)
            elif self._tasks is not None:
                # Each gateway's drops and returns happen in order, but apart from the traffic:
                # a return may wait for the hub to take the Will in.
                previous = self._gateways.get(item.lot)
                self._gateways[item.lot] = self._tasks.create_task(
                    self._gateway(item, previous), name=f"sensors-sim.gateway.{item.lot}"
                )

    async def _answer_resyncs(self, at: int) -> None:
        if self.resyncs is None:
            return
        gateways = self.traffic.encoder.gateways
        for lot, frame in self.resyncs.answers():
            message = Message(gateways.topic(lot), frame.payload, at, frame.berth, frame.rank, 0, NATIVE)
            await self._send(message)

    async def _gateway(self, event: GatewayEvent, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous
        if self.publisher is not None and self.hub is not None:
            # Go off (or come back) only once the hub shows the previous change, so the hub,
            # which stamps a Will with its own clock when it reads it, sees them in order.
            await self._hub_shows(event.lot, self.hub, online=not event.online)
            if not event.online:
                await self._drop(event.lot)
            else:
                await self._statuses([event.lot], max(wall_ms(), self._dropped_at[event.lot] + 1))
        elif not event.online:
            await self._drop(event.lot)
        else:
            await self._statuses(
                [event.lot], max(wall_ms(), self._dropped_at[event.lot] + ONLINE_AFTER_WILL_MS)
            )

    async def _send(self, message: Message) -> None:
        self.published += 1
        self.traffic.stats.messages[FORMATS[message.fmt]] += 1
        if self.publisher is None:
            self._ack(message)
        else:
            await self.publisher.send(message.topic, message.payload, then=partial(self._ack, message))

    def _ack(self, message: Message) -> None:
        self._acked.append(message)

    def _record(self) -> None:
        """Into the truth: what the broker has acknowledged since last time."""
        acked, self._acked = self._acked, []
        self.truth.record(acked)

    async def _statuses(self, lots: Sequence[int], at_ms: int) -> None:
        """Gateways announce they are online (retained), as they do on every (re)connect."""
        payload = orjson.dumps({"online": True, "ts": at_ms})
        topics = [(self._status_topic(lot), payload) for lot in lots]
        if self.publisher is not None:
            await self.publisher.publish(topics, retain=True)
        for lot in lots:
            self.truth.record_status(lot, at_ms, online=True)

    async def _drop(self, lot: int) -> None:
        """A gateway drops off the broker; the broker publishes its Will, which the hub stamps on receipt."""
        if self.publisher is not None:
            await drop_with_will(self.publisher.url, self._status_topic(lot), orjson.dumps({"online": False}))
        self._dropped_at[lot] = wall_ms()
        self.truth.record_status(lot, self._dropped_at[lot], online=False)

    async def _hub_shows(self, lot: int, hub: Hub, *, online: bool) -> None:
        lot_id = self.traffic.registry.lot_ids[lot]
        deadline = time.monotonic() + STATUS_SEEN_WITHIN_S
        while (await hub.get_ok(f"/v1/lots/{lot_id}")).get("online") is not online:
            if time.monotonic() > deadline:
                state = "online" if online else "offline"
                print(
                    f"sensors-sim: the hub did not show {lot_id} {state} within {STATUS_SEEN_WITHIN_S:.0f} s",
                    file=sys.stderr,
                )
                return
            await asyncio.sleep(STATUS_POLL_S)

    def _status_topic(self, lot: int) -> str:
        return f"{self._prefix}/v1/lots/{self.traffic.registry.lot_ids[lot]}/status"

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            sim = self.traffic.now_ms
            day, into = divmod(sim, DAY_MS)
            hours, minutes = divmod(into // 60_000, 60)
            occupied = float(np.mean(self.traffic.demand.occupied))
            elapsed = time.monotonic() - self.started
            print(
                f"sensors-sim: {elapsed:.0f}s  simulated day {day} {hours:02d}:{minutes:02d}  "
                f"messages {self.published:,} ({self.published / elapsed:,.0f}/s)  "
                f"events {self.truth.delivered:,} ({self.truth.delivered / elapsed:,.0f}/s)  "
                f"occupancy {occupied:.1%}",
                file=sys.stderr,
                flush=True,
            )


def _merge(step: Step) -> list[Message | GatewayEvent]:
    """Messages and gateway events in time order; at equal times, a gateway drops before it sends."""
    keyed: list[tuple[int, int, Message | GatewayEvent]] = [(e.at, 0, e) for e in step.gateways]
    keyed += [(m.deliver, 1, m) for m in step.messages]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [item for _, _, item in keyed]
