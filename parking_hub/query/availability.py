"""The API's in-memory mirror of Redis: every berth's winning report, and per-lot counts derived from it.

Redis changes reach it as lot ids on a pub/sub channel; `refresh` then reads just those lots and
recounts them. Counts depend on the clock too (a silent berth turns unknown): each lot keeps the
time its next counted berth goes stale, and `tick` recounts only the lots whose time has come.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from parking_hub.arrays import BoolArray, IntArray
from parking_hub.query.hours import OpeningTimes
from parking_hub.query.index import CityIndex
from parking_hub.query.outlook import CityOutlook
from parking_hub.rank import flag_of, ts_of
from parking_hub.store import gap_log, redis_keys, scripts
from parking_hub.store.connection import RedisClient

NEVER = np.iinfo(np.int64).max
META_FIELDS = ("applied", "rejected", "status", "gaps", "token")  # read from each lot's meta hash


@dataclass(frozen=True, slots=True)
class Counts:
    free: int
    occupied: int
    unknown: int


def _status_online(status_rank: IntArray) -> BoolArray:
    # No status ever received (rank 0) counts as online: lots without a gateway have no status topic.
    online: BoolArray = (status_rank == 0) | (flag_of(status_rank) == 1)
    return online


class Availability:
    def __init__(self, index: CityIndex, timezone: ZoneInfo | None = None, now_ms: int | None = None) -> None:
        self.index = index
        self.timezone = timezone or ZoneInfo("UTC")  # of lots whose registry entry names none
        n, b = len(index.lots), index.layout.berth_count
        self.ranks = np.zeros(b, dtype=np.int64)
        self.known = np.zeros(b, dtype=bool)  # fresh report and lot online
        self.free = np.zeros(b, dtype=bool)  # known and reported free
        self.status_rank = np.zeros(n, dtype=np.int64)
        self.applied = np.zeros(n, dtype=np.int64)
        self.rejected = np.zeros(n, dtype=np.int64)
        self.gaps = np.zeros(n, dtype=np.int64)  # gaps ever found in each lot's senders' counters
        self.gap_hours: dict[int, dict[int, int]] = {}  # per lot with recent gaps: hour -> gaps
        self.rejected_unattributed = 0
        self.tokens: list[bytes | None] = [None] * n  # per lot: its write token as last read
        self.updated_ms = np.zeros(n, dtype=np.int64)
        self.known_n = np.zeros(n, dtype=np.int64)
        # Per lot, free berths having each combination of features asked for so far (() for all).
        self.free_n: dict[tuple[str, ...], IntArray] = {(): np.zeros(n, dtype=np.int64)}
        self.expires_ms = np.full(n, NEVER, dtype=np.int64)  # when a counted berth next turns stale
        # Every lot's forecast, once its history is fitted (query/arrival.py); None: persistence.
        self.outlook: CityOutlook | None = None
        self.epoch = secrets.token_hex(4)  # names this mirror in stream event ids
        self.version = 0  # bumped whenever some lot's counts change
        self.changed_in = np.zeros(n, dtype=np.int64)  # per lot: the version of its last change
        self.recounts = 0
        # Per lot: the last recount that changed what its answer shows (counts, free berths, last
        # update), for answers kept encoded until then.
        self.shown_changed_in = np.zeros(n, dtype=np.int64)
        built_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        self.hours = OpeningTimes.build(index.lots, self.timezone, built_ms)
        self.open_now = self.hours.open_mask(self.hours.built_ms)
        self._next_turn_ms = self.hours.next_change_ms(self.hours.built_ms)  # some lot opens or closes

    # -- reading Redis -------------------------------------------------------------------------

    def _positions(self, lot_ids: Iterable[str]) -> IntArray:
        known = [self.index.layout.position[lot] for lot in lot_ids if lot in self.index.layout.position]
        return np.unique(np.array(known, dtype=np.int64))

    async def verify(self, redis: RedisClient, lot_ids: Iterable[str], now_ms: int) -> IntArray:
        """Re-read just those of the lots named whose meta hash in Redis differs from what the mirror
        last read (event counter, gateway status, gap counter, write token): a cheap check that no
        pub/sub notice was lost. Ingest sets a fresh token and counts the events in the same script
        that writes a lot's reports, so a lot whose reports moved shows here."""
        positions = self._positions(lot_ids)
        pipe = scripts.runner(redis).pipeline()
        for i in positions.tolist():
            pipe.hmget(redis_keys.meta(self.index.lots[i].id), META_FIELDS)
        replies = await pipe.execute()
        if not replies:
            return positions
        # The token is the writer's business: compared as the bytes it is, never parsed.
        tokens = [reply[-1] for reply in replies]
        meta = np.array([[int(v or 0) for v in reply[:-1]] for reply in replies], dtype=np.int64)
        self.rejected[positions] = meta[:, 1]
        moved = (meta[:, 0] != self.applied[positions]) | (meta[:, 2] != self.status_rank[positions])
        moved |= meta[:, 3] != self.gaps[positions]
        moved |= np.array([t != self.tokens[i] for t, i in zip(tokens, positions.tolist(), strict=True)])
        return await self.refresh(redis, [self.index.lots[i].id for i in positions[moved].tolist()], now_ms)

    async def refresh(self, redis: RedisClient, lot_ids: Iterable[str], now_ms: int) -> IntArray:
        """Re-read the lots named and recount them; returns the positions whose counts changed."""
        positions = self._positions(lot_ids)
        # A script per lot reads its reports and meta at one instant (one slot, so also on a cluster):
        # an ingest write landing between two separate reads would pair old reports with the new
        # counter and token, and the lost-notice check would then never see a difference.
        runner = scripts.runner(redis)
        snapshot = runner.script("snapshot.lua")
        pipe = runner.pipeline()
        for i in positions.tolist():
            lot = self.index.lots[i].id
            lot_keys = [redis_keys.reports(lot), redis_keys.meta(lot), redis_keys.gap_hours(lot)]
            await runner.queue(pipe, snapshot, lot_keys, list(META_FIELDS))
        pipe.get(redis_keys.REJECTED_UNATTRIBUTED)
        replies = await runner.execute(pipe)
        end = 1 + len(META_FIELDS)
        for k, i in enumerate(positions.tolist()):
            self._store_lot(i, replies[k][0], replies[k][1:end], replies[k][end:])
        self.rejected_unattributed = int(replies[-1] or 0)
        return self.recount(positions, now_ms)

    def _store_lot(
        self, i: int, reports: bytes | None, meta: Sequence[bytes | None], gap_hours: Sequence[bytes]
    ) -> None:
        span = self.index.layout.span(i)
        raw = np.frombuffer(reports or b"", dtype=">i8")[: span.stop - span.start]
        self.ranks[span.start : span.start + len(raw)] = raw
        self.ranks[span.start + len(raw) : span.stop] = 0
        counters = (int(v or 0) for v in meta[:-1])
        self.applied[i], self.rejected[i], self.status_rank[i], self.gaps[i] = counters
        self.tokens[i] = meta[-1]
        # Flat field/value pairs, as HGETALL gives them inside a script.
        hours = {int(hour): int(n) for hour, n in zip(gap_hours[::2], gap_hours[1::2], strict=True)}
        if hours:
            self.gap_hours[i] = hours
        else:
            self.gap_hours.pop(i, None)

    # -- counting ------------------------------------------------------------------------------

    def tick(self, now_ms: int) -> IntArray:
        """Recount the lots where some berth fell silent long enough to turn unknown, and mark the
        lots that opened or closed since the last tick as changed."""
        turned = self._turn_hours(now_ms)
        if len(turned):
            self.version += 1
            self.changed_in[turned] = self.version
        recounted = self.recount(np.flatnonzero(self.expires_ms < now_ms), now_ms)
        return np.union1d(turned, recounted)

    def _turn_hours(self, now_ms: int) -> IntArray:
        if self.hours.stale(now_ms):
            self.hours = OpeningTimes.build(self.index.lots, self.timezone, now_ms)
        elif self._next_turn_ms is None or now_ms < self._next_turn_ms:
            return np.zeros(0, dtype=np.int64)
        open_now = self.hours.open_mask(now_ms)
        turned: IntArray = np.flatnonzero(open_now != self.open_now)
        self.open_now = open_now
        self._next_turn_ms = self.hours.next_change_ms(now_ms)
        return turned

    def recount(self, positions: IntArray, now_ms: int) -> IntArray:
        """Recount the lots given (sorted, unique); returns those whose counts changed."""
        if len(positions) == 0:
            return positions
        idx = self.index
        self.recounts += 1
        berths, which = idx.berths_of(positions)
        sizes = idx.layout.capacity[positions]
        firsts = np.cumsum(sizes) - sizes  # where each lot's run starts in the gathered arrays
        ranks = self.ranks[berths]
        deadline = ts_of(ranks) + idx.layout.stale_after_ms[positions][which]
        online = _status_online(self.status_rank[positions])
        known = (ranks > 0) & (deadline >= now_ms) & online[which]
        free = known & (flag_of(ranks) == 0)
        shown_changed = np.logical_or.reduceat(free != self.free[berths], firsts)
        self.known[berths] = known
        self.free[berths] = free

        known_n = np.add.reduceat(known.astype(np.int64), firsts)
        changed = known_n != self.known_n[positions]
        self.known_n[positions] = known_n
        for combo, counts in self.free_n.items():
            mask = idx.features_mask(combo)
            per_lot = np.add.reduceat(
                (free if mask is None else free & mask[berths]).astype(np.int64), firsts
            )
            changed |= per_lot != counts[positions]
            counts[positions] = per_lot
        self.expires_ms[positions] = np.minimum.reduceat(np.where(known, deadline, NEVER), firsts)
        updated_ms = ts_of(np.maximum.reduceat(ranks, firsts))
        shown_changed |= changed | (updated_ms != self.updated_ms[positions])
        self.updated_ms[positions] = updated_ms
        self.shown_changed_in[positions[shown_changed]] = self.recounts

        moved: IntArray = positions[changed]
        if len(moved):
            self.version += 1
            self.changed_in[moved] = self.version
        return moved

    # -- reading counts ------------------------------------------------------------------------

    def free_counts(self, features: Sequence[str] = ()) -> IntArray:
        """Free berths per lot having every feature named ("car": under no vehicle class)."""
        key = tuple(sorted(set(features)))
        counts = self.free_n.get(key)
        if counts is None:
            # Counted for the whole city once, then kept by each recount like the others.
            mask = self.index.features_mask(key)
            assert mask is not None
            sizes = self.index.layout.capacity
            if not len(sizes):
                return sizes
            counts = np.add.reduceat((self.free & mask).astype(np.int64), np.cumsum(sizes) - sizes)
            self.free_n[key] = counts
        return counts

    def lot_counts(self, i: int, features: Sequence[str] = ()) -> Counts:
        """Counts of one lot, over its berths that have every feature named."""
        mask = self.index.features_mask(features)
        if mask is None:
            known = int(self.known_n[i])
            free = int(self.free_n[()][i])
            return Counts(
                free=free, occupied=known - free, unknown=int(self.index.layout.capacity[i]) - known
            )
        span = self.index.layout.span(i)
        has = mask[span]
        known = int((self.known[span] & has).sum())
        free = int((self.free[span] & has).sum())
        return Counts(free=free, occupied=known - free, unknown=int(has.sum()) - known)

    def city_counts(self) -> Counts:
        known = int(self.known_n.sum())
        free = int(self.free_n[()].sum())
        return Counts(free=free, occupied=known - free, unknown=self.index.layout.berth_count - known)

    def free_berths(self, i: int, features: Sequence[str], limit: int) -> list[int]:
        span = self.index.layout.span(i)
        free = self.free[span]
        mask = self.index.features_mask(features)
        if mask is not None:
            free = free & mask[span]
        return np.flatnonzero(free)[:limit].tolist()  # type: ignore[no-any-return]

    def gaps_24h(self, i: int, now_ms: int) -> int:
        return gap_log.recent(self.gap_hours.get(i, {}), now_ms)

    def online(self, i: int) -> bool:
        return bool(self.online_mask(np.array([i]))[0])

    def online_mask(self, positions: IntArray) -> BoolArray:
        return _status_online(self.status_rank[positions])
