"""The simulated city, step by step: demand -> hardware -> messages (with faults). Pure; no I/O.

Simulated time is milliseconds since local midnight of day 0. A run starts on day 1 at the chosen
hour, after a silent simulated day that brings every berth to a realistic state. Reports carry
wall-clock times: `Clock` maps simulated time onto the wall, compressed by the speed.
"""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sensors_sim.calendar import CalendarOptions
from sensors_sim.city import CODECS, DEFAULT_SEED
from sensors_sim.demand import DAY_MS, HOUR_MS, Demand
from sensors_sim.encoders import FORMATS, Encoder, Message, assign_formats
from sensors_sim.faults import Faults, Injector
from sensors_sim.hardware import NATIVE, PER_BERTH, GatewayEvent, Hardware, Uplinks
from sensors_sim.registry import Registry
from sensors_sim.stats import Stats

WARMUP_STEP_MS = 15 * 60_000

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TrafficOptions:
    seed: int = DEFAULT_SEED
    formats: tuple[str, ...] = ("native",)
    faults: Faults = field(default_factory=Faults)
    start_hour: float = 7.0  # local time of day the run starts at
    topic_prefix: str = "parking"
    calendar: CalendarOptions = field(default_factory=CalendarOptions)  # weekdays and event days


@dataclass(frozen=True, slots=True)
class Clock:
    """Simulated to wall-clock milliseconds: `wall0 + (sim - sim0) / speed`."""

    sim0: int
    wall0: int
    speed: float

    def wall(self, sim_ms: IntArray) -> IntArray:
        result: IntArray = self.wall0 + ((sim_ms - self.sim0) / self.speed).astype(np.int64)
        return result

    def wall_at(self, sim_ms: int) -> int:
        return self.wall0 + int((sim_ms - self.sim0) / self.speed)


@dataclass(frozen=True, slots=True)
class Step:
    messages: list[Message]  # in delivery order
    gateways: list[GatewayEvent]


class Traffic:
    def __init__(self, registry: Registry, options: TrafficOptions) -> None:
        unknown = set(options.formats) - set(FORMATS)
        if unknown or not options.formats:
            raise ValueError(f"formats must be among {', '.join(FORMATS)}")
        self.registry = registry
        self.options = options
        self.start_ms = DAY_MS + int(options.start_hour * HOUR_MS)
        self.now_ms = self.start_ms
        seed = options.seed
        self.lot_format = assign_formats(registry, options.formats, seed)
        self.demand = Demand(registry, seed, self.start_ms - DAY_MS, options.calendar)
        self.changes_per_day = 0
        for until in range(self.start_ms - DAY_MS + WARMUP_STEP_MS, self.start_ms + 1, WARMUP_STEP_MS):
            self.changes_per_day += len(self.demand.advance(until))
        self.injector = Injector(options.faults, seed)
        self.hardware = Hardware(registry, self.lot_format, seed, options.faults.flap)
        self.encoder = Encoder(registry, self.lot_format, options.topic_prefix, seed, self.injector)
        # Berths without a codec count under the extra last index.
        self.stats = Stats(
            np.bincount(self.demand.kind, minlength=2),
            np.where(registry.codec < 0, len(CODECS), registry.codec),
        )
        self._clocked_lot = np.isin(self.lot_format, (NATIVE, PER_BERTH))  # stamped by a device's own clock
        self._pending = self.hardware.start(self.demand.occupied, self.start_ms)
        self.stats.record_uplinks(self._pending)
        self._held: list[Message] = []

    def step(self, until_ms: int, clock: Clock) -> Step:
        """Advance to `until_ms`: what reaches the broker by then."""
        changes = self.demand.advance(until_ms)
        uplinks, gateways = self.hardware.step(
            changes, self.demand.next_change, self.demand.occupied, until_ms
        )
        self.stats.record_changes(changes, self.demand.kind)
        self.stats.record_uplinks(uplinks)
        self.stats.record_occupancy(
            np.bincount(self.demand.kind, self.demand.occupied, minlength=2).astype(np.int64),
            self.now_ms,
            until_ms,
        )
        self.now_ms = until_ms
        pending = Uplinks.concat([self._pending, uplinks])
        due = pending.deliver <= until_ms
        ready, self._pending = pending.take(due), pending.take(~due)
        lot = self.hardware.lot[ready.berth]
        ahead = np.where(self._clocked_lot[lot], self.injector.clock_ahead(lot, ready.ts, self.start_ms), 0)
        messages = self._held + self.encoder.messages(ready, clock.wall(ready.ts) + ahead)
        messages.sort(key=lambda m: m.deliver)
        cut = next((i for i, m in enumerate(messages) if m.deliver > until_ms), len(messages))
        self._held = messages[cut:]
        return Step(messages[:cut], gateways)

    def incidents(self) -> Counter[str]:
        """Faults injected so far, and gateway outages (which are not faults: gateways do drop off)."""
        counts = Counter(self.encoder.faults)
        counts["flap"] = self.hardware.flaps
        counts["skewed clocks (lots)"] = int(
            (self.injector.skewed(np.arange(len(self.lot_format))) & self._clocked_lot).sum()
        )
        counts["gateway outages"] = int(self.hardware.outages.sum())
        return counts
