"""A report as one integer, `rank = ts * 2 + flag`: the order rule is "the greater rank wins".

The flag is `occupied` for a berth report and `online` for a gateway status, so at equal `ts` the
set flag wins. 0 means no report. Each function takes a plain int or an int64 array alike.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar, overload

from parking_hub.arrays import BoolArray, IntArray

# No sensor of this system observed anything before 2020: an earlier ts is seconds sent as
# milliseconds (contract 7.4). The upper bound is now + MAX_FUTURE_MS, far below 2**51, the
# greatest ts that keeps a rank exact in Redis Lua numbers (doubles).
MIN_TS_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
MAX_FUTURE_MS = 5 * 60 * 1000

Ints = TypeVar("Ints", int, IntArray)


@overload
def rank_of(ts: int, flag: int) -> int: ...
@overload
def rank_of(ts: IntArray, flag: IntArray | BoolArray | int) -> IntArray: ...
def rank_of(ts: Any, flag: Any) -> Any:
    return ts * 2 + flag


def ts_of(rank: Ints) -> Ints:
    ts: Ints = rank >> 1
    return ts


def flag_of(rank: Ints) -> Ints:
    """1 for occupied (online), 0 for free (offline) or for no report."""
    flag: Ints = rank & 1
    return flag


class TsFault(NamedTuple):
    code: str  # the rejection code
    why: str  # completes "ts 1764201600 ..."


TOO_EARLY = TsFault("ts_out_of_range", "is before 2020-01-01: it must be milliseconds, not seconds")
TOO_LATE = TsFault("ts_in_future", f"is more than {MAX_FUTURE_MS // 1000} s in the future")


def ts_fault(ts: int, now_ms: int) -> TsFault | None:
    """What is wrong with an observation time in integer milliseconds since the Unix epoch, if anything."""
    if ts < MIN_TS_MS:
        return TOO_EARLY
    if ts > now_ms + MAX_FUTURE_MS:
        return TOO_LATE
    return None


def ts_faults(ts: IntArray, now_ms: int) -> tuple[tuple[TsFault, BoolArray], ...]:
    """ts_fault for many at once: each fault with the mask of the times that have it."""
    return (TOO_EARLY, ts < MIN_TS_MS), (TOO_LATE, ts > now_ms + MAX_FUTURE_MS)
