"""Each lot's counts over event time (contract 7.3), sampled by ingest, kept in two rings per lot.

Ingest keeps a lot's clock: the newest `ts` among the lot's winning reports. Whenever a write moves
that clock past 5-minute boundaries of event time, ingest samples the lot's counts at each boundary
crossed, from the reports it has just written (a berth is known when its report is at most three
heartbeat periods old at that instant; gateway status is not replayed). The samples land in two
rings under the lot's hash tag:

- `parking:{L}:h5`: every 5-minute sample of the last FINE_SLOTS (24 hours);
- `parking:{L}:h15`: every 15-minute sample of the last COARSE_SLOTS (8 weeks and a day).

Each ring is a string: a signed 64-bit header holding the newest sample's time (s since the epoch),
then per slot two 10-bit fields written with BITFIELD: the occupied count and the known count plus
one (0 = no sample). A lot of more than SCALE berths stores both in units of capacity / SCALE.
Slot k holds the sample at the boundary t with t // step % slots == k, so a ring overwrites its
oldest slot as event time moves on: it never grows, whatever the traffic. A sample counts only if
it lies within the ring's span before the header's time; the rings also expire RETAIN_S after the
last write that passed an hour, so a lot that falls silent (or leaves the registry) leaves nothing
behind.

Samples rather than a time-weighted mean: a boundary's sample depends only on the reports written
so far, so it is exact wherever the reports are, needs no per-event work in Redis nor state carried
between writes, and a replay of past traffic writes exactly what live traffic would have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parking_hub.arrays import FloatArray, IntArray
from parking_hub.rank import flag_of, ts_of
from parking_hub.store import redis_keys
from parking_hub.store.connection import RedisClient


@dataclass(frozen=True, slots=True)
class Ring:
    name: str  # in the key
    step_s: int
    slots: int

    @property
    def span_s(self) -> int:
        return self.step_s * self.slots

    @property
    def pad_bit(self) -> int:
        """Where the byte after the ring's last slot starts."""
        return (HEADER_BITS + self.slots * 2 * FIELD_BITS + 7) // 8 * 8


FINE = Ring("h5", 300, 288)
COARSE = Ring("h15", 900, 8 * 7 * 96 + 96)
RINGS = (FINE, COARSE)
SAMPLE_S = FINE.step_s  # every ring's step is a multiple of it
FIELD_BITS = 10
SCALE = (1 << FIELD_BITS) - 2  # the largest count stored as is; known + 1 must fit the field
HEADER_BITS = 64
SLOT_TYPE = f"u{2 * FIELD_BITS}"
EXPIRY_EVERY_S = 3600
RETAIN_S = COARSE.span_s + EXPIRY_EVERY_S


@dataclass(frozen=True, slots=True)
class Samples:
    """One lot's samples, oldest first: `at` in seconds since the epoch, counts in berths."""

    at: IntArray
    occupied: FloatArray
    known: FloatArray
    capacity: int

    @property
    def free(self) -> FloatArray:
        result: FloatArray = self.known - self.occupied
        return result

    @property
    def unknown(self) -> FloatArray:
        result: FloatArray = self.capacity - self.known
        return result


def sample_counts(
    before: IntArray, events: tuple[IntArray, IntArray], stale_after_ms: int, boundaries_s: IntArray
) -> tuple[IntArray, IntArray]:
    """Occupied and known berths of one lot at each boundary: its winning reports before a write
    (rank = ts * 2 + occupied, 0 = never) with the write's reports (berth, rank) up to the boundary."""
    berth, rank = events
    order = np.argsort(ts_of(rank), kind="stable")
    berth, rank = berth[order], rank[order]
    ts = ts_of(rank)
    bounds_ms = boundaries_s * 1000
    # Boundaries before the first report see `before`; those after the last see every report.
    first = int(np.searchsorted(bounds_ms, ts[0])) if len(ts) else len(bounds_ms)
    last = int(np.searchsorted(bounds_ms, ts[-1])) if len(ts) else len(bounds_ms)
    state = before.copy()
    occupied = np.zeros(len(bounds_ms), dtype=np.int64)
    known = np.zeros(len(bounds_ms), dtype=np.int64)
    if first:
        occupied[:first], known[:first] = _counts(state, stale_after_ms, bounds_ms[:first])
    applied = 0
    for k in range(first, last):
        upto = int(np.searchsorted(ts, bounds_ms[k], side="right"))
        np.maximum.at(state, berth[applied:upto], rank[applied:upto])
        applied = upto
        occupied[k], known[k] = (int(v[0]) for v in _counts(state, stale_after_ms, bounds_ms[k : k + 1]))
    if last < len(bounds_ms):
        np.maximum.at(state, berth[applied:], rank[applied:])
        occupied[last:], known[last:] = _counts(state, stale_after_ms, bounds_ms[last:])
    return occupied, known


def _counts(ranks: IntArray, stale_after_ms: int, bounds_ms: IntArray) -> tuple[IntArray, IntArray]:
    """Occupied and known berths at instants no earlier than any of the reports."""
    reported = ranks[ranks > 0]
    all_ts, occupied_ts = np.sort(ts_of(reported)), np.sort(ts_of(reported[flag_of(reported) == 1]))
    oldest = bounds_ms - stale_after_ms
    known: IntArray = len(all_ts) - np.searchsorted(all_ts, oldest)
    occupied: IntArray = len(occupied_ts) - np.searchsorted(occupied_ts, oldest)
    return occupied, known


def crossed_boundaries(clock_before_ms: IntArray, clock_after_ms: IntArray) -> tuple[IntArray, IntArray]:
    """Per lot, the first sample boundary (s) its clock passed and how many it passed, every
    SAMPLE_S from the first: the most recent COARSE.span_s of them at most, and none for a lot's
    first report (there is nothing to sample before it)."""
    last = clock_after_ms // 1000 // SAMPLE_S
    first = np.maximum(clock_before_ms // 1000 // SAMPLE_S + 1, last - COARSE.span_s // SAMPLE_S + 1)
    count: IntArray = np.where(clock_before_ms > 0, np.maximum(last - first + 1, 0), 0)
    return first * SAMPLE_S, count


def counts_at_one_boundary(
    before: IntArray,
    lot_of_berth: IntArray,
    events: tuple[IntArray, IntArray],
    boundary_ms: IntArray,
    stale_after_ms: IntArray,
) -> tuple[IntArray, IntArray]:
    """sample_counts for many lots at one boundary each, in one pass: `before` holds the lots'
    winning reports before a write, one lot after another, lot_of_berth says whose each is (0..n-1);
    events are the write's reports as (place in `before`, rank); boundary_ms and stale_after_ms are
    per lot. A berth's state at its lot's boundary is its greatest report up to then."""
    state = before.copy()
    berth, rank = events
    upto = ts_of(rank) <= boundary_ms[lot_of_berth[berth]]
    np.maximum.at(state, berth[upto], rank[upto])
    known = (state > 0) & (ts_of(state) >= (boundary_ms - stale_after_ms)[lot_of_berth])
    occupied = known & (flag_of(state) == 1)
    lots = len(boundary_ms)
    return np.bincount(lot_of_berth[occupied], minlength=lots), np.bincount(
        lot_of_berth[known], minlength=lots
    )


def commands(
    lots: Sequence[str],
    capacity: IntArray,
    first_s: IntArray,
    count: IntArray,
    *,
    occupied: IntArray,
    known: IntArray,
) -> list[list[object]]:
    """The BITFIELD commands that store samples (and each ring's header); and, when the samples pass
    an hour of event time, the rings' expiry (refreshed hourly, not on every write: it is cheap to
    leave out and ingest writes these for every lot). Lot k has count[k] samples, every SAMPLE_S
    from first_s[k]; occupied and known hold them, lot after lot."""
    ends = np.cumsum(count)
    lot_of = np.repeat(np.arange(len(lots)), count)
    at_s = np.repeat(first_s, count) + (np.arange(len(lot_of)) - np.repeat(ends - count, count)) * SAMPLE_S
    cap = capacity[lot_of]
    scale = np.minimum(cap, SCALE)
    occ = np.rint(occupied * scale / cap).astype(np.int64)
    kn = np.rint(known * scale / cap).astype(np.int64) + 1
    slots = ((occ << FIELD_BITS) | kn).tolist()  # both fields of a slot in one SET
    expire = np.bincount(lot_of[at_s % EXPIRY_EVERY_S == 0], minlength=len(lots)) > 0
    out: list[list[object]] = []
    for ring in RINGS:
        mine = np.flatnonzero(at_s % ring.step_s == 0)
        bounds = np.searchsorted(mine, np.stack([ends - count, ends])).T.tolist()
        offsets = (HEADER_BITS + (at_s[mine] // ring.step_s % ring.slots) * 2 * FIELD_BITS).tolist()
        values = [slots[k] for k in mine.tolist()]
        newest = at_s[mine].tolist()
        for lot, (a, b), lot_expires in zip(lots, bounds, expire.tolist(), strict=True):
            if a == b:
                continue
            name = redis_keys.history(lot, ring.name)
            # The pad byte past the last slot first: a new key is then made at its full length at
            # once. Grown piecemeal, Redis would over-allocate the string (up to twice its length).
            args: list[object] = [
                "BITFIELD",
                name,
                "SET",
                "u8",
                ring.pad_bit,
                0,
                "SET",
                "i64",
                0,
                newest[b - 1],
            ]
            for k in range(a, b):
                args += ["SET", SLOT_TYPE, offsets[k], values[k]]
            out.append(args)
            if lot_expires:
                out.append(["EXPIRE", name, RETAIN_S])
    return out


def decode(raw: bytes | None, ring: Ring, capacity: int) -> Samples:
    """A ring as read with GET: its valid samples, oldest first."""
    empty = Samples(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), capacity)
    if not raw or len(raw) < HEADER_BITS // 8:
        return empty
    newest = int.from_bytes(raw[: HEADER_BITS // 8], "big", signed=True)
    body = np.frombuffer(raw, dtype=np.uint8, offset=HEADER_BITS // 8)
    bits = np.unpackbits(body)[: ring.slots * 2 * FIELD_BITS]
    bits = np.pad(bits, (0, ring.slots * 2 * FIELD_BITS - len(bits)))
    weights = 1 << np.arange(FIELD_BITS - 1, -1, -1)
    fields = bits.reshape(ring.slots, 2, FIELD_BITS) @ weights
    # Slot k's sample is the newest boundary at or before `newest` that falls in slot k.
    newest_slot = newest // ring.step_s
    back = (newest_slot - np.arange(ring.slots)) % ring.slots
    at = (newest_slot - back) * ring.step_s
    order = np.argsort(at)
    at, fields = at[order], fields[order]
    present = fields[:, 1] > 0
    unit = capacity / min(capacity, SCALE)
    return Samples(
        at[present].astype(np.int64),
        fields[present, 0] * unit,
        (fields[present, 1] - 1) * unit,
        capacity,
    )


async def read(redis: RedisClient, lot: str, capacity: int) -> dict[Ring, Samples]:
    """Both rings of one lot, read in one round trip (one slot, so also on a cluster)."""
    pipe = redis.pipeline(transaction=False)
    for ring in RINGS:
        pipe.get(redis_keys.history(lot, ring.name))
    replies = await pipe.execute()
    return {ring: decode(raw, ring, capacity) for ring, raw in zip(RINGS, replies, strict=True)}


async def read_ring(redis: RedisClient, lots: Sequence[tuple[str, int]], ring: Ring) -> list[Samples]:
    """One ring of each of these lots (id, capacity), read in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for lot, _ in lots:
        pipe.get(redis_keys.history(lot, ring.name))
    replies = await pipe.execute()
    return [decode(raw, ring, capacity) for (_, capacity), raw in zip(lots, replies, strict=True)]
