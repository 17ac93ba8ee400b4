"""Coalescing: per lot, only the greatest report per berth goes to Redis, and every event is counted."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from parking_hub.ingest.batch import BatchBuilder, dedupe
from parking_hub.ingest.formats import Decoded, Rejection

reports = st.lists(st.tuples(st.integers(0, 20), st.integers(1, 2**45)), max_size=200)


@given(reports)
def test_dedupe_keeps_the_greatest_rank_per_berth(events: list[tuple[int, int]]) -> None:
    berths = np.array([b for b, _ in events], dtype=np.int64)
    ranks = np.array([r for _, r in events], dtype=np.int64)
    got_b, got_r = dedupe(berths, ranks)
    expected: dict[int, int] = {}
    for berth, rank in events:
        expected[berth] = max(rank, expected.get(berth, 0))
    assert dict(zip(got_b.tolist(), got_r.tolist(), strict=True)) == expected
    assert got_b.tolist() == sorted(expected)


def test_builder_groups_by_lot_and_counts_everything() -> None:
    builder = BatchBuilder()
    arr = np.array
    builder.add(Decoded("a", arr([1, 2], dtype=np.int64), arr([10, 20], dtype=np.int64)))
    builder.add(Decoded("b", arr([1], dtype=np.int64), arr([5], dtype=np.int64)))
    builder.add(
        Decoded("a", arr([1], dtype=np.int64), arr([11], dtype=np.int64), rejections=[Rejection("x", "m", 2)])
    )
    builder.add(Decoded("a", status_rank=7))
    builder.add(Decoded("a", status_rank=6))
    builder.add(Decoded(None, rejections=[Rejection("unknown_lot", "m")]))
    assert builder.events == 4
    batch = builder.build()
    by_lot = {r.lot: r for r in batch.reports}
    assert by_lot["a"].events == 3
    assert by_lot["a"].berths.tolist() == [1, 2]
    assert by_lot["a"].ranks.tolist() == [11, 20]
    assert by_lot["b"].events == 1
    assert batch.statuses == {"a": 7}
    assert batch.rejected == {"a": 2}
    assert batch.rejected_unattributed == 1
    assert batch.touched_lots() == ["a", "b"]
