"""Coalesce many decoded messages into one Redis batch: flat berth indexes, de-duplicated."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from parking_hub.ingest.formats import Decoded
from parking_hub.store.apply import Batch
from parking_hub.store.layout import IntArray, Layout

_EMPTY = np.empty(0, dtype=np.int64)


def dedupe(index: IntArray, ranks: IntArray) -> tuple[IntArray, IntArray]:
    """Keep only the greatest rank per index, ascending by index: the one report that can win."""
    order = np.lexsort((ranks, index))
    b, r = index[order], ranks[order]
    last = np.ones(len(b), dtype=bool)
    last[:-1] = b[1:] != b[:-1]
    return b[last], r[last]


class BatchBuilder:
    """Collects decoded messages until the consumer flushes them as one Batch."""

    def __init__(self) -> None:
        self._berths: defaultdict[str, list[IntArray]] = defaultdict(list)
        self._ranks: defaultdict[str, list[IntArray]] = defaultdict(list)
        self._statuses: dict[str, int] = {}
        self._rejected: defaultdict[str, int] = defaultdict(int)
        self._rejected_unattributed = 0
        self.events = 0

    def add(self, decoded: Decoded) -> None:
        lot = decoded.lot
        if lot is None:
            self._rejected_unattributed += decoded.rejected_events
            return
        if decoded.rejections:
            self._rejected[lot] += decoded.rejected_events
        if n := len(decoded.berths):
            self._berths[lot].append(decoded.berths)
            self._ranks[lot].append(decoded.ranks)
            self.events += n
        if decoded.status_rank is not None:
            self._statuses[lot] = max(decoded.status_rank, self._statuses.get(lot, 0))

    def build(self, layout: Layout) -> Batch:
        """The batch in the registry's current layout; events of a lot it no longer has are rejected."""
        index_parts, rank_parts = [], []
        events_by_lot: dict[int, int] = {}
        rejected_unattributed = self._rejected_unattributed
        for lot, parts in self._berths.items():
            position = layout.position.get(lot)
            n = sum(len(part) for part in parts)
            if position is None:
                rejected_unattributed += n
                continue
            berths, ranks = np.concatenate(parts), np.concatenate(self._ranks[lot])
            fits = berths < layout.capacity[position]  # the lot may have shrunk since decoding
            if not fits.all():
                rejected_unattributed += int((~fits).sum())
                berths, ranks, n = berths[fits], ranks[fits], int(fits.sum())
            index_parts.append(berths + layout.offsets[position])
            rank_parts.append(ranks)
            events_by_lot[position] = n
        index = np.concatenate(index_parts) if index_parts else _EMPTY
        ranks = np.concatenate(rank_parts) if rank_parts else _EMPTY
        unique_index, best = dedupe(index, ranks)
        return Batch(
            layout,
            unique_index,
            best,
            events_by_lot,
            dict(self._statuses),
            dict(self._rejected),
            rejected_unattributed,
        )
