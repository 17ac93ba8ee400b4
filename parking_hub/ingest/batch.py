"""Coalesce many decoded messages into one Redis batch: grouped by lot, de-duplicated per berth."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from parking_hub.ingest.formats import Decoded, Int64Array
from parking_hub.store.apply import Batch, LotReports


def dedupe(berths: Int64Array, ranks: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Keep only the greatest rank per berth: the one report that can win the order rule."""
    order = np.lexsort((ranks, berths))
    b, r = berths[order], ranks[order]
    last_of_berth = np.ones(len(b), dtype=bool)
    last_of_berth[:-1] = b[1:] != b[:-1]
    return b[last_of_berth], r[last_of_berth]


class BatchBuilder:
    """Collects decoded messages until the consumer flushes them as one Batch."""

    def __init__(self) -> None:
        self._berths: defaultdict[str, list[Int64Array]] = defaultdict(list)
        self._ranks: defaultdict[str, list[Int64Array]] = defaultdict(list)
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
        if len(decoded.berths):
            self._berths[lot].append(decoded.berths)
            self._ranks[lot].append(decoded.ranks)
            self.events += len(decoded.berths)
        if decoded.status_rank is not None:
            self._statuses[lot] = max(decoded.status_rank, self._statuses.get(lot, 0))

    def build(self) -> Batch:
        reports = []
        for lot, berth_parts in self._berths.items():
            berths = np.concatenate(berth_parts)
            ranks = np.concatenate(self._ranks[lot])
            unique_berths, best_ranks = dedupe(berths, ranks)
            reports.append(LotReports(lot, len(berths), unique_berths, best_ranks))
        return Batch(reports, dict(self._statuses), dict(self._rejected), self._rejected_unattributed)
