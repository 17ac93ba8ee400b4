"""Coalesce many decoded messages into one Redis batch: flat berth indexes, de-duplicated."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from parking_hub.arrays import IntArray
from parking_hub.ingest.formats import Decoded
from parking_hub.store.apply import Batch
from parking_hub.store.layout import Layout


def by_berth(index: IntArray, ranks: IntArray) -> tuple[IntArray, IntArray]:
    """Reports sorted by index, then by rank."""
    order = np.lexsort((ranks, index))
    return index[order], ranks[order]


def last_per_berth(b: IntArray, r: IntArray) -> tuple[IntArray, IntArray]:
    """Of reports sorted by `by_berth`, the greatest rank per index: the one report that can win."""
    last = np.ones(len(b), dtype=bool)
    last[:-1] = b[1:] != b[:-1]
    return b[last], r[last]


class BatchBuilder:
    """Collects decoded messages until the consumer flushes them as one Batch."""

    def __init__(self) -> None:
        self._lots: list[str] = []  # one entry per message with events, parallel to the arrays
        self._berths: list[IntArray] = []
        self._ranks: list[IntArray] = []
        self._single_lots: list[str] = []  # one entry per single report, parallel to the ints
        self._single_berths: list[int] = []
        self._single_ranks: list[int] = []
        self._statuses: dict[str, int] = {}
        self._rejected: defaultdict[str, int] = defaultdict(int)
        self._rejected_unattributed = 0
        self._gaps: defaultdict[str, int] = defaultdict(int)
        self.events = 0

    def add(self, decoded: Decoded) -> None:
        lot = decoded.lot
        if lot is None:
            self._rejected_unattributed += decoded.rejected_events
            return
        if decoded.rejections:
            self._rejected[lot] += decoded.rejected_events
        berths, ranks = decoded.berths, decoded.ranks
        if isinstance(berths, tuple):
            self._single_lots.append(lot)
            self._single_berths.append(berths[0])
            self._single_ranks.append(ranks[0])
            self.events += 1
        elif n := len(berths):
            self._lots.append(lot)
            self._berths.append(berths)
            self._ranks.append(np.asarray(ranks))
            self.events += n
        if decoded.status_rank is not None:
            self._statuses[lot] = max(decoded.status_rank, self._statuses.get(lot, 0))

    def add_reports(self, lots: list[str], berths: list[int], ranks: list[int]) -> None:
        """Single reports, one per entry of the three lists."""
        self._single_lots += lots
        self._single_berths += berths
        self._single_ranks += ranks
        self.events += len(lots)

    def gap(self, lot: str) -> None:
        """Messages of the lot were lost upstream: a sender's counter skipped numbers."""
        self._gaps[lot] += 1

    def build(self, layout: Layout) -> Batch:
        """The batch in the registry's current layout: events of a lot it no longer has, or of a
        berth past a lot's new capacity, are rejected."""
        where = layout.position.get
        position = np.array([where(lot, -1) for lot in self._lots], dtype=np.int64)
        lengths = np.array([len(part) for part in self._berths], dtype=np.int64)
        single_position = np.array([where(lot, -1) for lot in self._single_lots], dtype=np.int64)
        owner = np.concatenate((np.repeat(position, lengths), single_position))
        berths = np.concatenate((*self._berths, np.array(self._single_berths, dtype=np.int64)))
        ranks = np.concatenate((*self._ranks, np.array(self._single_ranks, dtype=np.int64)))
        fits = owner >= 0
        if fits.any():
            fits &= berths < layout.capacity[np.where(fits, owner, 0)]
        reports = by_berth(berths[fits] + layout.offsets[owner[fits]], ranks[fits])
        index, best = last_per_berth(*reports)
        lots, counts = np.unique(owner[fits], return_counts=True)
        return Batch(
            layout,
            index,
            best,
            dict(zip(lots.tolist(), counts.tolist(), strict=True)),
            dict(self._statuses),
            dict(self._rejected),
            self._rejected_unattributed + int((~fits).sum()),
            dict(self._gaps),
            reports,
        )
