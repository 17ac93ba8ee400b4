"""Parking demand: when cars arrive at and leave each berth, for the whole city at once (numpy).

Each free berth sees arrivals as a non-homogeneous Poisson process whose rate follows the local
hour and the lot's kind, scaled by the lot's popularity; the next arrival comes from inverting the
integrated rate (time rescaling), so event times are exact, not rounded to steps. A stay is drawn
at arrival from a two-part log-normal mixture: ordinary visits, and all-day or overnight parkers
whose share depends on the hour of arrival. On-street calibration (refs/sensor-formats.md 3.2,
Charlottesville 2-hour spaces): mean stay about 1.6 h, about 5% of stays 4 h or longer and about 1%
past 8 h. The log-normal shape is a modelling choice, not a cited fact.

Simulated time is milliseconds since local midnight of day 0; only the hour of day matters.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensors_sim.rand import Stream
from sensors_sim.registry import Registry

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_STAY_MS = 72 * HOUR_MS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Arrivals per free berth per hour, by local hour 0..23; row 0 off-street, row 1 on-street.
ARRIVALS_PER_HOUR = np.array(
    [
        [0.06, 0.04, 0.03, 0.03, 0.04, 0.10, 0.35, 1.10, 1.60, 1.30, 1.00, 0.95,
         1.00, 1.00, 0.90, 0.85, 0.85, 0.90, 0.85, 0.70, 0.55, 0.35, 0.20, 0.10],
        [0.12, 0.08, 0.06, 0.06, 0.08, 0.20, 0.60, 1.80, 3.00, 3.40, 3.50, 3.70,
         3.70, 3.50, 3.40, 3.40, 3.50, 3.70, 3.40, 2.60, 1.80, 1.10, 0.60, 0.30],
    ]
)  # fmt: skip
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

_KNOTS_MS = np.arange(25, dtype=np.float64) * HOUR_MS
# Integrated arrival rate over the day (per free berth), at each hour boundary, per kind.
_CUMULATIVE = np.concatenate((np.zeros((2, 1)), np.cumsum(ARRIVALS_PER_HOUR, axis=1)), axis=1)


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

    def __init__(self, registry: Registry, seed: int, start_ms: int) -> None:
        lot = registry.lot_of_berths()
        self.kind = registry.on_street.astype(np.int64)[lot]  # 0 off-street, 1 on-street
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
        kind = self.kind[berths]
        day, into_day = np.divmod(after_ms, DAY_MS)
        per_day = _CUMULATIVE[kind, -1]
        start = np.where(
            kind == 1,
            np.interp(into_day, _KNOTS_MS, _CUMULATIVE[1]),
            np.interp(into_day, _KNOTS_MS, _CUMULATIVE[0]),
        )
        # One draw per (berth, change number): the arrival after departure k uses counter k.
        target = start + self._arrival.exponential(berths, self.changes[berths]) / self._popularity[berths]
        days, rest = np.divmod(target, per_day)
        within = np.where(
            kind == 1, np.interp(rest, _CUMULATIVE[1], _KNOTS_MS), np.interp(rest, _CUMULATIVE[0], _KNOTS_MS)
        )
        arrival = (day + days).astype(np.int64) * DAY_MS + within.astype(np.int64)
        result: IntArray = np.maximum(arrival, after_ms + 1)
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
