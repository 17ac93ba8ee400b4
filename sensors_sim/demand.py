"""Parking demand: when cars arrive at and leave each berth, for the whole city at once (numpy).

Each free berth sees arrivals as a non-homogeneous Poisson process whose rate follows the local
hour, the day (weekday, weekend, event day: see calendar) and the lot's kind, scaled by the lot's
popularity; the next arrival comes from inverting the
integrated rate (time rescaling), so event times are exact, not rounded to steps. A stay is drawn
at arrival from a two-part log-normal mixture: ordinary visits, and all-day or overnight parkers
whose share depends on the hour of arrival. On-street calibration (refs/sensor-formats.md 3.2,
Charlottesville 2-hour spaces): mean stay about 1.6 h, about 5% of stays 4 h or longer and about 1%
past 8 h. The log-normal shape is a modelling choice, not a cited fact.

Simulated time is milliseconds since local midnight of day 0.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensors_sim.calendar import Calendar, CalendarOptions
from sensors_sim.rand import Stream
from sensors_sim.registry import Registry

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_STAY_MS = 72 * HOUR_MS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Stay mixture per kind: (median hours, log sigma) of ordinary and of long stays.
SHORT_STAY = ((1.6, 0.85), (1.05, 0.75))
LONG_STAY = ((9.0, 0.30), (9.5, 0.35))
# Share of long stays by hour of arrival: commuters in the morning, overnight parkers at night.
LONG_SHARE = np.array(
    [
        [0.30, 0.30, 0.30, 0.30, 0.30, 0.40, 0.55, 0.55, 0.45, 0.25, 0.12, 0.08,
         0.06, 0.06, 0.06, 0.06, 0.08, 0.15, 0.30, 0.45, 0.55, 0.55, 0.50, 0.40],
        [0.12, 0.12, 0.12, 0.12, 0.12, 0.10, 0.05, 0.02, 0.01, 0.005, 0.005, 0.005,
         0.005, 0.005, 0.005, 0.005, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.10, 0.10],
    ]
)  # fmt: skip
POPULARITY_SIGMA = 0.35  # lot-to-lot spread of demand (log-normal multiplier)


def hour_of(t_ms: IntArray) -> IntArray:
    hours: IntArray = (t_ms // HOUR_MS) % 24
    return hours


@dataclass(frozen=True, slots=True)
class Changes:
    """Berth state changes, in no particular order: global berth, time (sim ms), new state, number."""

    berth: IntArray
    at: IntArray
    occupied: BoolArray
    number: IntArray  # the berth's change counter: 0 for its first arrival
    stay_ms: IntArray  # for arrivals, the stay drawn; 0 for departures

    def __len__(self) -> int:
        return len(self.berth)


class Demand:
    """The true occupancy of every berth and when it changes next."""

    def __init__(
        self, registry: Registry, seed: int, start_ms: int, calendar: CalendarOptions | None = None
    ) -> None:
        lot = registry.lot_of_berths()
        self.kind = registry.on_street.astype(np.int64)[lot]  # 0 off-street, 1 on-street
        self.calendar = Calendar(
            len(registry.lot_ids), registry.on_street, seed, calendar or CalendarOptions()
        )
        self._class = self.calendar.lot_class[lot]
        self._flat: tuple[int, FloatArray, FloatArray] | None = None  # the calendar inverted, per size
        lots = np.arange(len(registry.lot_ids))
        self._popularity = np.exp(POPULARITY_SIGMA * Stream(seed, "popularity").normal(lots))[lot]
        self._arrival = Stream(seed, "arrival")
        self._stay = Stream(seed, "stay")
        n = len(lot)
        self.occupied = np.zeros(n, dtype=bool)
        self.changes = np.zeros(n, dtype=np.int64)
        self.next_change = self._next_arrival(np.arange(n, dtype=np.int64), np.full(n, start_ms))

    def advance(self, until_ms: int) -> Changes:
        """Every change at or before `until_ms`; a berth may change several times."""
        parts: list[Changes] = []
        due = np.flatnonzero(self.next_change <= until_ms)
        while len(due):
            at = self.next_change[due]
            number = self.changes[due]
            arriving = ~self.occupied[due]
            stay = np.zeros(len(due), dtype=np.int64)
            stay[arriving] = self._draw_stay(due[arriving], number[arriving], at[arriving])
            nxt = at + stay
            leaving = ~arriving
            nxt[leaving] = self._next_arrival(due[leaving], at[leaving])
            self.occupied[due] = arriving
            self.changes[due] += 1
            self.next_change[due] = nxt
            parts.append(Changes(due, at, arriving, number, stay))
            due = due[nxt <= until_ms]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return Changes(empty, empty, np.zeros(0, dtype=bool), empty, empty)
        return Changes(*(np.concatenate([getattr(p, f) for p in parts]) for f in Changes.__slots__))

    def _next_arrival(self, berths: IntArray, after_ms: IntArray) -> IntArray:
        """Invert the integrated arrival rate: the time at which it has grown by an Exp(1) draw."""
        cls = self._class[berths]
        hours = after_ms / HOUR_MS
        self.calendar.cover(int(hours.max(initial=0)) // 24 + 2)
        cumulative = self.calendar.cumulative
        knot = hours.astype(np.int64)
        start = cumulative[cls, knot] + (hours - knot) * (cumulative[cls, knot + 1] - cumulative[cls, knot])
        # One draw per (berth, change number): the arrival after departure k uses counter k.
        target = start + self._arrival.exponential(berths, self.changes[berths]) / self._popularity[berths]
        while len(target) and (target > self.calendar.cumulative[cls, -1]).any():
            self.calendar.cover(2 * self.calendar.days)
        arrival = (self._hour_reaching(cls, target) * HOUR_MS).astype(np.int64)
        result: IntArray = np.maximum(arrival, after_ms + 1)
        return result

    def _hour_reaching(self, cls: IntArray, target: FloatArray) -> FloatArray:
        """For each class and cumulated rate, the (fractional) hour at which the class reaches it."""
        cumulative = self.calendar.cumulative
        if self._flat is None or self._flat[0] != cumulative.shape[1]:
            # Every class's table end to end, each lifted above the one before: one sorted array.
            lift = np.arange(len(cumulative))[:, None] * (cumulative[:, -1].max() + 1)
            self._flat = (cumulative.shape[1], (cumulative + lift).ravel(), lift[:, 0])
        width, flat, lift = self._flat
        k = np.searchsorted(flat, target + lift[cls]) - cls * width  # first knot at or past the target
        k = np.clip(k, 1, width - 1)
        low, high = cumulative[cls, k - 1], cumulative[cls, k]
        result: FloatArray = (k - 1) + (target - low) / (high - low)
        return result

    def _draw_stay(self, berths: IntArray, number: IntArray, at: IntArray) -> IntArray:
        kind = self.kind[berths]
        long = self._stay.uniform(berths, number, salt=0) < LONG_SHARE[kind, hour_of(at)]
        short_median, short_sigma = np.array(SHORT_STAY).T
        long_median, long_sigma = np.array(LONG_STAY).T
        median = np.where(long, long_median[kind], short_median[kind])
        sigma = np.where(long, long_sigma[kind], short_sigma[kind])
        hours = median * np.exp(sigma * self._stay.normal(berths, number, salt=1))
        stay: IntArray = np.clip((hours * HOUR_MS).astype(np.int64), 60_000, MAX_STAY_MS)
        return stay
