"""Every berth of every lot in one flat run: lots in id order, berth b of lot i at offsets[i] + b."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from parking_hub.arrays import IntArray
from parking_hub.registry import Lot

NEVER_STALE_S = 1 << 40


@dataclass(frozen=True, slots=True, eq=False)
class Layout:
    """Immutable; a registry change builds a new one (compare by identity)."""

    ids: tuple[str, ...]
    position: dict[str, int]
    capacity: IntArray
    offsets: IntArray
    stale_after_ms: IntArray  # per lot: how old a report may be and still count (3 heartbeats)

    @classmethod
    def build(
        cls, capacity_by_lot: Mapping[str, int], heartbeat_s: Mapping[str, int] | None = None
    ) -> Layout:
        """Without heartbeats (tools and tests that only write), every report counts however old."""
        ids = tuple(sorted(capacity_by_lot))
        capacity = np.array([capacity_by_lot[lot] for lot in ids], dtype=np.int64)
        offsets = np.zeros(len(ids), dtype=np.int64)
        if ids:
            offsets[1:] = np.cumsum(capacity)[:-1]
        beats = heartbeat_s or {}
        stale = np.array([3_000 * beats.get(lot, NEVER_STALE_S) for lot in ids], dtype=np.int64)
        return cls(ids, {lot: i for i, lot in enumerate(ids)}, capacity, offsets, stale)

    @classmethod
    def of(cls, lots: Sequence[Lot]) -> Layout:
        """The layout of these registry lots, with their heartbeats."""
        return cls.build({lot.id: lot.capacity for lot in lots}, {lot.id: lot.heartbeat_s for lot in lots})

    @property
    def berth_count(self) -> int:
        return int(self.capacity.sum())

    def capacity_of(self, lot: str) -> int | None:
        position = self.position.get(lot)
        return None if position is None else int(self.capacity[position])

    def lot_of(self, index: IntArray) -> IntArray:
        """The lot position of each flat berth index."""
        found: IntArray = np.searchsorted(self.offsets, index, side="right") - 1
        return found

    def span(self, position: int) -> slice:
        start = int(self.offsets[position])
        return slice(start, start + int(self.capacity[position]))
