"""The API's in-memory mirror of Redis: every berth's winning report, and per-lot counts derived from it.

Redis changes reach it as lot ids on a pub/sub channel; `refresh` then reads just those lots.
Counts depend on the clock too (a silent berth turns unknown), so `tick` recounts the whole city.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from parking_hub.query.index import BoolArray, CityIndex, IntArray
from parking_hub.store import keys
from parking_hub.store.connection import RedisClient


@dataclass(frozen=True, slots=True)
class Counts:
    free: int
    occupied: int
    unknown: int


def _status_online(status_rank: IntArray) -> BoolArray:
    # No status ever received (rank 0) counts as online: lots without a gateway have no status topic.
    online: BoolArray = (status_rank == 0) | (status_rank % 2 == 1)
    return online


class Availability:
    def __init__(self, index: CityIndex) -> None:
        self.index = index
        n, b = len(index.lots), index.berth_count
        self.ranks = np.zeros(b, dtype=np.int64)
        self.status_rank = np.zeros(n, dtype=np.int64)
        self.applied = np.zeros(n, dtype=np.int64)
        self.rejected = np.zeros(n, dtype=np.int64)
        self.updated_ms = np.zeros(n, dtype=np.int64)
        self.rejected_unattributed = 0
        self.counted_at_ms = 0
        self._known = np.zeros(b, dtype=bool)
        # Per lot, free berths with each feature combination the nearest query can ask for.
        self._free: dict[tuple[str, ...], IntArray] = {
            combo: np.zeros(n, dtype=np.int64) for combo in [(), *index.feature_masks]
        }

    # -- reading Redis -------------------------------------------------------------------------

    async def refresh(self, redis: RedisClient, lot_ids: Iterable[str], now_ms: int) -> None:
        positions = sorted({self.index.position[lot] for lot in lot_ids if lot in self.index.position})
        pipe = redis.pipeline(transaction=False)
        for i in positions:
            lot = self.index.lots[i].id
            pipe.get(keys.reports(lot))
            pipe.hmget(keys.meta(lot), ["applied", "rejected", "status"])
        pipe.get(keys.REJECTED_UNATTRIBUTED)
        replies = await pipe.execute()
        for k, i in enumerate(positions):
            self._store_lot(i, replies[2 * k], replies[2 * k + 1])
        self.rejected_unattributed = int(replies[-1] or 0)
        self._count(now_ms, positions)

    def _store_lot(self, i: int, reports: bytes | None, meta: Sequence[bytes | None]) -> None:
        span = self.index.span(i)
        capacity = span.stop - span.start
        raw = np.frombuffer(reports or b"", dtype=">i8")[:capacity]
        self.ranks[span.start : span.start + len(raw)] = raw
        self.ranks[span.start + len(raw) : span.stop] = 0
        applied, rejected, status = (int(v or 0) for v in meta)
        self.applied[i], self.rejected[i], self.status_rank[i] = applied, rejected, status
        self.updated_ms[i] = int(raw.max()) >> 1 if len(raw) else 0

    # -- counting ------------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Recount every lot, so berths that fell silent turn unknown."""
        self._count(now_ms, None)

    def _count(self, now_ms: int, positions: Sequence[int] | None) -> None:
        idx = self.index
        if positions is None:
            berths: slice | IntArray = slice(None)
            lots: slice | IntArray = slice(None)
            self.counted_at_ms = now_ms
        else:
            if not positions:
                return
            lots = np.asarray(positions, dtype=np.int64)
            berths = np.concatenate([np.arange(idx.span(i).start, idx.span(i).stop) for i in positions])
        ranks = self.ranks[berths]
        owner = idx.lot_of_berth[berths]
        online = _status_online(self.status_rank)[owner]
        fresh = (ranks > 0) & (now_ms - (ranks >> 1) <= idx.stale_after_ms[owner])
        known = fresh & online
        self._known[berths] = known
        free = known & (ranks & 1 == 0)
        n = len(idx.lots)
        for combo, counts in self._free.items():
            mask = idx.features_mask(combo)
            weights = free if mask is None else free & mask[berths]
            counts[lots] = np.bincount(owner, weights=weights, minlength=n).astype(np.int64)[lots]

    def free_counts(self, features: Sequence[str] = ()) -> IntArray:
        return self._free[tuple(sorted(set(features)))]

    def lot_counts(self, i: int, features: Sequence[str] = ()) -> Counts:
        """Counts of one lot, over its berths that have every feature named."""
        span = self.index.span(i)
        known = self._known[span]
        occupied = known & (self.ranks[span] & 1 == 1)
        mask = self.index.features_mask(features)
        if mask is not None:
            known, occupied = known & mask[span], occupied & mask[span]
            total = int(mask[span].sum())
        else:
            total = span.stop - span.start
        n_known, n_occ = int(known.sum()), int(occupied.sum())
        return Counts(free=n_known - n_occ, occupied=n_occ, unknown=total - n_known)

    def city_counts(self) -> Counts:
        known = int(self._known.sum())
        free = int(self._free[()].sum())
        return Counts(free=free, occupied=known - free, unknown=self.index.berth_count - known)

    def free_berths(self, i: int, features: Sequence[str], limit: int) -> list[int]:
        span = self.index.span(i)
        free = self._known[span] & (self.ranks[span] & 1 == 0)
        mask = self.index.features_mask(features)
        if mask is not None:
            free &= mask[span]
        return np.flatnonzero(free)[:limit].tolist()  # type: ignore[no-any-return]

    def online(self, i: int) -> bool:
        return bool(_status_online(self.status_rank[i : i + 1])[0])
