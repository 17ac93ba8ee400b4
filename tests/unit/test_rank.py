"""The rank: one integer per report, read back as its ts and flag; the ts check, one at a time or many."""

from __future__ import annotations

import numpy as np

from parking_hub.rank import (
    MAX_FUTURE_MS,
    MIN_TS_MS,
    TOO_EARLY,
    TOO_LATE,
    flag_of,
    rank_of,
    ts_fault,
    ts_faults,
    ts_of,
)

NOW = 1_764_201_600_000


def test_a_rank_reads_back_as_its_ts_and_flag_and_orders_by_ts_then_flag() -> None:
    assert (ts_of(rank_of(NOW, 1)), flag_of(rank_of(NOW, 1))) == (NOW, 1)
    assert rank_of(NOW, 0) < rank_of(NOW, 1) < rank_of(NOW + 1, 0)
    ts, flags = np.array([NOW, NOW - 5, MIN_TS_MS], dtype=np.int64), np.array([True, False, True])
    ranks = rank_of(ts, flags)
    assert ranks.dtype == np.int64
    assert ts_of(ranks).tolist() == ts.tolist()
    assert flag_of(ranks).tolist() == [1, 0, 1]


def test_many_times_are_checked_as_each_one_is() -> None:
    times = [MIN_TS_MS - 1, MIN_TS_MS, NOW, NOW + MAX_FUTURE_MS, NOW + MAX_FUTURE_MS + 1]
    one_by_one = [ts_fault(t, NOW) for t in times]
    assert one_by_one == [TOO_EARLY, None, None, None, TOO_LATE]
    at_once: list[object] = [None] * len(times)
    for fault, failed in ts_faults(np.array(times, dtype=np.int64), NOW):
        for i in np.flatnonzero(failed).tolist():
            at_once[i] = fault
    assert at_once == one_by_one
