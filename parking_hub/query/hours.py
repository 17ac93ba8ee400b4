"""When each lot is open, as a timeline of state changes over a window of days around now.

Evaluating an `opening_hours` expression costs microseconds, too much per lot per query; a query
instead finds its time in the lot's few changes by binary search (in the compiled search too).
Lots that share an expression, a time zone and a region (points rounded to 0.1 degree, for the
country's holidays) share one evaluation, so a city of many similar lots costs a few expressions.
A lot without `opening_hours` is always open; the state `unknown` counts as open (never refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from opening_hours import State

from parking_hub.arrays import BoolArray, IntArray
from parking_hub.lot_facts import compile_hours, zone
from parking_hub.registry import Lot

DAY_MS = 86_400_000
# Queries may ask about times from a day before to a week after now, and arrive 4 hours after that.
AT_BEFORE_MS = DAY_MS
AT_AFTER_MS = 7 * DAY_MS
# The timeline spans more than that from whenever it was built, so it needs rebuilding only about
# twice a day.
WINDOW_BEFORE_MS = 2 * DAY_MS
WINDOW_AFTER_MS = 8 * DAY_MS
REBUILD_AFTER_MS = DAY_MS // 2
ALWAYS = (-(2**63), 2**63 - 1)  # [start, end) of all time, in ms


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _timeline(lot: Lot, timezone: ZoneInfo, start_ms: int, end_ms: int) -> list[tuple[int, bool]]:
    """(time, open from then on) at the window's start and at each change within it."""
    assert lot.facts.opening_hours is not None
    hours = compile_hours(lot.facts.opening_hours, timezone, round(lot.lat, 1), round(lot.lon, 1))
    utc = ZoneInfo("UTC")
    start = datetime.fromtimestamp(start_ms / 1000, tz=utc)
    end = datetime.fromtimestamp(end_ms / 1000, tz=utc)
    edges: list[tuple[int, bool]] = []
    for begin, _, state, _ in hours.intervals(start, end):
        is_open = state != State.CLOSED
        if not edges or edges[-1][1] != is_open:
            edges.append((max(_ms(begin), start_ms), is_open))
    return edges


@dataclass(frozen=True, slots=True, eq=False)
class OpeningTimes:
    """Lot i's changes are rows first[i] .. first[i] + count[i] - 1 of edges_ms / open_from;
    first[i] is -1 for a lot open throughout the window."""

    built_ms: int
    first: IntArray
    count: IntArray
    edges_ms: IntArray
    open_from: BoolArray

    @classmethod
    def build(cls, lots: Sequence[Lot], default_timezone: ZoneInfo, now_ms: int) -> OpeningTimes:
        start_ms, end_ms = now_ms - WINDOW_BEFORE_MS, now_ms + WINDOW_AFTER_MS
        shared: dict[tuple[str, str, float, float], list[tuple[int, bool]]] = {}
        first = np.full(len(lots), -1, dtype=np.int64)
        count = np.zeros(len(lots), dtype=np.int64)
        edges: list[tuple[int, bool]] = []
        for i, lot in enumerate(lots):
            text = lot.facts.opening_hours
            if text is None:
                continue
            tz = default_timezone if lot.facts.timezone is None else zone(lot.facts.timezone)
            key = (text, tz.key, round(lot.lat, 1), round(lot.lon, 1))
            if key not in shared:
                shared[key] = _timeline(lot, tz, start_ms, end_ms)
            timeline = shared[key]
            if all(is_open for _, is_open in timeline):
                continue
            first[i], count[i] = len(edges), len(timeline)
            edges += timeline
        return cls(
            built_ms=now_ms,
            first=first,
            count=count,
            edges_ms=np.array([t for t, _ in edges], dtype=np.int64),
            open_from=np.array([o for _, o in edges], dtype=bool),
        )

    def stale(self, now_ms: int) -> bool:
        return now_ms - self.built_ms > REBUILD_AFTER_MS

    def _row(self, i: int, t_ms: int) -> int:
        """The row of lot i's state at t_ms, or -1 for a lot always open."""
        f = int(self.first[i])
        if f < 0:
            return -1
        k = int(np.searchsorted(self.edges_ms[f : f + int(self.count[i])], t_ms, side="right"))
        return f + max(k - 1, 0)

    def is_open(self, i: int, t_ms: int) -> bool:
        row = self._row(i, t_ms)
        return row < 0 or bool(self.open_from[row])

    def closes_at(self, i: int, t_ms: int) -> int | None:
        """When lot i next closes at or after t_ms (it may be closed before), None when it stays
        open to the end of the window."""
        return self.closing(i, t_ms)[0]

    def closing(self, i: int, t_ms: int) -> tuple[int | None, int, int]:
        """closes_at(i, t_ms), and the times [start, end) for which it is the same answer: those of
        lot i's state at t_ms."""
        row = self._row(i, t_ms)
        if row < 0:
            return None, ALWAYS[0], ALWAYS[1]
        end_row = int(self.first[i] + self.count[i])
        start = int(self.edges_ms[row]) if self.edges_ms[row] <= t_ms else ALWAYS[0]
        end = int(self.edges_ms[row + 1]) if row + 1 < end_row else ALWAYS[1]
        # States alternate from row to row, so this is the next closing whether open at t_ms or not.
        later = np.flatnonzero(~self.open_from[row + 1 : end_row])
        return (int(self.edges_ms[row + 1 + later[0]]) if len(later) else None), start, end

    def open_mask(self, t_ms: int) -> BoolArray:
        """Every lot's state at t_ms."""
        result = np.ones(len(self.first), dtype=bool)
        timed = np.flatnonzero(self.first >= 0)
        if len(timed):
            passed = np.add.reduceat((self.edges_ms <= t_ms).astype(np.int64), self.first[timed])
            result[timed] = self.open_from[self.first[timed] + np.maximum(passed - 1, 0)]
        return result

    def next_change_ms(self, t_ms: int) -> int | None:
        """The first change of any lot after t_ms, None when none comes within the window."""
        after = self.edges_ms[self.edges_ms > t_ms]
        return int(after.min()) if len(after) else None
