"""Apply batches of berth reports to Redis under the order rule.

The hub keeps a copy of every report array it writes. For a batch it compares, in numpy, each
report with the stored one (the greater `ts * 2 + occupied` wins), then writes only the changed
byte ranges of the lot's report array and bitmap with one script call. The script writes a lot
only if its token still is the one the hub read, so a concurrent writer (another hub process)
makes the call fail for that lot, and the hub re-reads it and merges again: any number of hubs
end in the same state. Redis does no per-event work, and the hub sends bytes, not one argument
per event.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parking_hub.arrays import IntArray
from parking_hub.config import AckAfter
from parking_hub.rank import flag_of, ts_of
from parking_hub.store import gap_log, history, notices, redis_keys, scripts
from parking_hub.store.connection import RedisClient
from parking_hub.store.layout import Layout

_EMPTY = np.empty(0, dtype=np.int64)
LOTS_PER_CALL = 500  # bounds how long one script call holds the server
MERGE_GAP = 16  # changed berths closer than this are written as one range
MAX_RANGES = 32  # past this many ranges a lot is written whole
SAMPLE_CHUNK_BERTHS = 1 << 18  # lots sampled together hold at most about this many berths


@dataclass(slots=True)
class Batch:
    """Everything one round trip writes, addressed in one Layout."""

    layout: Layout
    index: IntArray  # flat berth indexes, unique, ascending
    ranks: IntArray  # the greatest rank (ts * 2 + occupied) this batch holds for each index
    events_by_lot: dict[int, int]  # lot position -> valid events, before de-duplication
    statuses: dict[str, int] = field(default_factory=dict)  # lot -> greatest status rank (ts * 2 + online)
    rejected: dict[str, int] = field(default_factory=dict)  # lot -> rejected events
    rejected_unattributed: int = 0
    gaps: dict[str, int] = field(default_factory=dict)  # lot -> gaps found in its senders' seq or f_cnt
    # Every valid report before de-duplication, by index then rank: history samples between them.
    reports: tuple[IntArray, IntArray] = (_EMPTY, _EMPTY)

    @property
    def events(self) -> int:
        return sum(self.events_by_lot.values())

    def touched_lots(self) -> list[str]:
        ids = self.layout.ids
        return sorted({ids[p] for p in self.events_by_lot}.union(self.statuses, self.rejected, self.gaps))


@dataclass(slots=True)
class _LotWrite:
    position: int
    events: int
    clock: int  # the lot's newest report time (ms) before this write
    replaced: tuple[IntArray, IntArray]  # the attempt's winning berths and the ranks they replaced
    won: int = 0
    ranges: list[tuple[int, bytes]] = field(default_factory=list)  # report array ranges
    bitmap: list[tuple[int, bytes]] = field(default_factory=list)  # occupancy bitmap ranges


class StateWriter:
    """One per ingest process; `write` raises on Redis errors, leaving the caller to retry. With
    `ack_after` beyond `write`, `write` returns once its writes are confirmed (see durability)."""

    def __init__(self, redis: RedisClient, ack_after: AckAfter = AckAfter.WRITE) -> None:
        self._ack_after = ack_after
        self._scripts = scripts.runner(redis)
        self._apply = self._scripts.script("apply.lua")
        self._read = self._scripts.script("read.lua")
        self._status = self._scripts.script("status.lua")
        self._gaps = self._scripts.script("gaps.lua")
        self._layout: Layout | None = None
        self._ranks = np.zeros(0, dtype=np.int64)
        self._token: list[str | None] = []  # per lot; None until read from Redis
        self._clock = np.zeros(0, dtype=np.int64)  # per lot: its newest report's ts (ms) in the copy

    async def write(self, batch: Batch) -> int:
        """Apply a batch; returns how many reports won."""
        self._adopt(batch.layout)
        pending = dict(batch.events_by_lot)
        won = 0
        written: list[_LotWrite] = []
        try:
            while pending:
                await self._load([p for p in pending if self._token[p] is None])
                writes = self._plan(batch, pending)
                done = await self._send(writes)
                for write, ok in zip(writes, done, strict=True):
                    if ok:
                        won += write.won
                        del pending[write.position]
                        written.append(write)
                    else:
                        self._token[write.position] = None  # moved under us: read it again
            await self._send_rest(batch, self._samples(written, batch.reports))
        except BaseException:
            for p in batch.events_by_lot:
                self._token[p] = None  # unknown whether the write landed
            raise
        return won

    def _adopt(self, layout: Layout) -> None:
        if layout is not self._layout:
            self._layout = layout
            self._ranks = np.zeros(layout.berth_count, dtype=np.int64)
            self._token = [None] * len(layout.ids)
            self._clock = np.zeros(len(layout.ids), dtype=np.int64)

    def _plan(self, batch: Batch, pending: dict[int, int]) -> list[_LotWrite]:
        """Merge the batch into the copy for the pending lots; describe the byte ranges to write."""
        layout = batch.layout
        index, ranks = batch.index, batch.ranks
        if len(pending) < len(batch.events_by_lot):
            keep = np.isin(layout.lot_of(index), np.fromiter(pending, dtype=np.int64))
            index, ranks = index[keep], ranks[keep]
        wins = ranks > self._ranks[index]
        won = index[wins]
        replaced = (won, self._ranks[won])
        self._ranks[won] = ranks[wins]
        writes = {p: _LotWrite(p, events, int(self._clock[p]), replaced) for p, events in pending.items()}
        np.maximum.at(self._clock, layout.lot_of(won), ts_of(ranks[wins]))
        if len(won):
            self._ranges(layout, won, writes)
        return list(writes.values())

    def _ranges(self, layout: Layout, won: IntArray, writes: dict[int, _LotWrite]) -> None:
        """Cover the winning berths with runs (one lot each, gaps up to MERGE_GAP bridged); a lot
        that would need more than MAX_RANGES runs is written whole."""
        lots = layout.lot_of(won)
        new_run = np.ones(len(won), dtype=bool)
        new_run[1:] = (lots[1:] != lots[:-1]) | (np.diff(won) > MERGE_GAP)
        starts = np.flatnonzero(new_run)
        ends = np.append(starts[1:], len(won)) - 1
        run_lot, first, last = lots[starts], won[starts], won[ends]
        positions, run_counts = np.unique(run_lot, return_counts=True)
        whole = set(positions[run_counts > MAX_RANGES].tolist())
        for p, count in zip(*np.unique(lots, return_counts=True), strict=True):
            writes[int(p)].won = int(count)
        for p in whole:
            span = layout.span(p)
            self._append_run(writes[p], span.start, span.stop - 1, span)
        for p, a, z in zip(run_lot.tolist(), first.tolist(), last.tolist(), strict=True):
            if p not in whole:
                self._append_run(writes[p], a, z, layout.span(p))

    def _append_run(self, write: _LotWrite, first: int, last: int, span: slice) -> None:
        """Flat berths first..last of one lot: its report bytes and the bitmap bytes covering them."""
        write.ranges.append(((first - span.start) * 8, self._ranks[first : last + 1].astype(">i8").tobytes()))
        byte_first, byte_last = (first - span.start) // 8, (last - span.start) // 8
        bits = flag_of(
            self._ranks[span.start + byte_first * 8 : min(span.stop, span.start + (byte_last + 1) * 8)]
        )
        write.bitmap.append((byte_first, np.packbits(bits.astype(np.uint8)).tobytes()))

    async def _load(self, positions: Sequence[int]) -> None:
        """Read lots' report arrays and tokens, atomically per lot, into the copy."""
        if not positions:
            return
        assert self._layout is not None
        ids = self._layout.ids
        replies = await self._call(
            self._read,
            positions,
            lambda p: [redis_keys.reports(ids[p]), redis_keys.meta(ids[p])],
            lambda p: [],
        )
        for k, p in enumerate(positions):
            raw, token = replies[2 * k], replies[2 * k + 1]
            span = self._layout.span(p)
            stored = np.frombuffer(raw, dtype=">i8")[: span.stop - span.start]
            self._ranks[span] = 0
            self._ranks[span.start : span.start + len(stored)] = stored
            self._clock[p] = ts_of(int(stored.max(initial=0)))
            self._token[p] = token.decode() if isinstance(token, bytes) else str(token)

    async def _send(self, writes: list[_LotWrite]) -> list[bool]:
        assert self._layout is not None
        ids = self._layout.ids
        tokens: dict[int, str] = {}

        def arguments(p: int) -> list[Any]:
            write = by_position[p]
            if write.ranges:
                tokens[p] = str(random.getrandbits(62) + 1)
            args: list[Any] = [
                self._token[p],
                tokens.get(p, ""),
                write.events,
                len(write.ranges),
                len(write.bitmap),
            ]
            for offset, blob in (*write.ranges, *write.bitmap):
                args += (offset, blob)
            return args

        by_position = {w.position: w for w in writes}
        positions = list(by_position)
        replies = await self._call(
            self._apply,
            positions,
            lambda p: [redis_keys.occupancy(ids[p]), redis_keys.reports(ids[p]), redis_keys.meta(ids[p])],
            arguments,
            self._ack_after,
        )
        for p, ok in zip(positions, replies, strict=True):
            if ok and p in tokens:
                self._token[p] = tokens[p]
        return [bool(ok) for ok in replies]

    async def _call(
        self,
        script: Any,
        positions: Sequence[int],
        keys_of: Any,
        args_of: Any,
        ack_after: AckAfter = AckAfter.WRITE,
    ) -> list[Any]:
        """One script call per group of lots (many on one server, one lot's slot on a cluster), all in
        one pipeline; the scripts' replies, concatenated in the order of `positions`."""
        size = LOTS_PER_CALL if self._scripts.standalone else 1
        pipe = self._scripts.pipeline()
        for i in range(0, len(positions), size):
            call_keys: list[str] = []
            call_args: list[Any] = []
            for p in positions[i : i + size]:
                call_keys += keys_of(p)
                call_args += args_of(p)
            await self._scripts.queue(pipe, script, call_keys, call_args)
        results = await self._scripts.execute(pipe, ack_after)
        return [item for result in results for item in result]

    def _samples(self, writes: list[_LotWrite], reports: tuple[IntArray, IntArray]) -> list[list[object]]:
        """The history samples the written lots' clocks passed, as Redis commands (see history)."""
        assert self._layout is not None
        layout = self._layout
        positions = np.array([w.position for w in writes], dtype=np.int64)
        clock_before = np.array([w.clock for w in writes], dtype=np.int64)
        first_s, count = history.crossed_boundaries(clock_before, self._clock[positions])
        crossed = np.flatnonzero(count)
        if not len(crossed):
            return []
        crossed = crossed[np.argsort(positions[crossed])]  # in position order, as `reports` is
        # A chunk's berths are copied a few times over: chunks bound the memory that takes when
        # every lot of a large city passes a boundary at once.
        chunk_of = (np.cumsum(layout.capacity[positions[crossed]]) - 1) // SAMPLE_CHUNK_BERTHS
        commands: list[list[object]] = []
        for chunk in np.split(crossed, np.flatnonzero(np.diff(chunk_of)) + 1):
            occupied, known = self._sample_counts(
                [writes[k] for k in chunk.tolist()], reports, first_s[chunk], count[chunk]
            )
            lots = positions[chunk]
            commands += history.commands(
                [layout.ids[p] for p in lots.tolist()],
                layout.capacity[lots],
                first_s[chunk],
                count[chunk],
                occupied=occupied,
                known=known,
            )
        return commands

    def _sample_counts(
        self, writes: list[_LotWrite], reports: tuple[IntArray, IntArray], first_s: IntArray, count: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Occupied and known berths of these written lots (in position order) at each boundary
        their clocks passed, lot after lot. At a boundary of event time every busy lot passes it in
        the same few batches: the lots that passed one boundary are counted together, and those
        that passed more (after a silence) one by one."""
        assert self._layout is not None
        layout = self._layout
        lots = np.array([w.position for w in writes], dtype=np.int64)
        sizes = layout.capacity[lots]
        starts = np.cumsum(sizes) - sizes  # where each lot's berths start in `before`
        place = np.full(len(layout.ids), -1, dtype=np.int64)  # lot position -> its place in `lots`
        place[lots] = np.arange(len(lots))
        before = self._ranks[np.repeat(layout.offsets[lots] - starts, sizes) + np.arange(int(sizes.sum()))]
        berth_range = (int(layout.offsets[lots[0]]), int(layout.offsets[lots[-1]] + sizes[-1]))
        # A lot's reports as they were before its write: the attempt that wrote it kept what it
        # replaced (for every lot it wrote; a lot written again after a conflict has a later attempt).
        attempts = {id(w.replaced): (g, w.replaced) for g, w in enumerate(writes)}
        attempt_of = np.array([attempts[id(w.replaced)][0] for w in writes], dtype=np.int64)
        for g, (all_won, all_old) in attempts.values():
            near = slice(*np.searchsorted(all_won, berth_range).tolist())  # won is sorted
            won, old = all_won[near], all_old[near]
            k = place[layout.lot_of(won)]
            mine = k >= 0
            mine[mine] = attempt_of[k[mine]] == g
            before[won[mine] - layout.offsets[lots[k[mine]]] + starts[k[mine]]] = old[mine]
        index, ranks = reports
        near = slice(*np.searchsorted(index, berth_range).tolist())  # index is sorted
        index, ranks = index[near], ranks[near]
        k = place[layout.lot_of(index)]
        mine = k >= 0
        event_lot, event_rank = k[mine], ranks[mine]
        event_at = index[mine] - layout.offsets[lots[event_lot]] + starts[event_lot]
        lot_of_berth = np.repeat(np.arange(len(lots)), sizes)
        stale_after_ms = layout.stale_after_ms[lots]
        ends = np.cumsum(count)
        occupied, known = np.zeros(int(ends[-1]), dtype=np.int64), np.zeros(int(ends[-1]), dtype=np.int64)
        # Every lot at its first boundary together; then the later boundaries of the few that passed more.
        occupied[ends - count], known[ends - count] = history.counts_at_one_boundary(
            before, lot_of_berth, (event_at, event_rank), first_s * 1000, stale_after_ms
        )
        for j in np.flatnonzero(count > 1).tolist():
            span = slice(int(starts[j]), int(starts[j] + sizes[j]))
            events = slice(*np.searchsorted(event_lot, (j, j + 1)).tolist())
            at = first_s[j] + np.arange(count[j]) * history.SAMPLE_S
            lot_events = (event_at[events] - starts[j], event_rank[events])
            lot_samples = slice(int(ends[j] - count[j]), int(ends[j]))
            occupied[lot_samples], known[lot_samples] = history.sample_counts(
                before[span], lot_events, int(stale_after_ms[j]), at
            )
        return occupied, known

    async def _send_rest(self, batch: Batch, samples: list[list[object]]) -> None:
        """Gateway statuses, rejection and gap counters, history samples, and the notice to API processes."""
        pipe = self._scripts.pipeline()
        for command in samples:
            pipe.execute_command(*command)
        for lot, rank in batch.statuses.items():
            await self._scripts.queue(pipe, self._status, [redis_keys.meta(lot)], [rank])
        for lot, count in batch.rejected.items():
            pipe.hincrby(redis_keys.meta(lot), "rejected", count)
        if batch.rejected_unattributed:
            pipe.incrby(redis_keys.REJECTED_UNATTRIBUTED, batch.rejected_unattributed)
        now_ms = time.time_ns() // 1_000_000
        for lot, count in batch.gaps.items():
            lot_keys = [redis_keys.meta(lot), redis_keys.gap_hours(lot)]
            await self._scripts.queue(pipe, self._gaps, lot_keys, gap_log.script_args(count, now_ms))
        notices.queue_changes(pipe, batch.touched_lots(), cluster=not self._scripts.standalone)
        await self._scripts.execute(pipe, self._ack_after)
