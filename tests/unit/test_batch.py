"""Coalescing: per lot, only the greatest report per berth goes to Redis, and every event is counted."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from parking_hub.ingest.batch import BatchBuilder, by_berth, last_per_berth
from parking_hub.ingest.formats import Decoded, Rejection
from parking_hub.store.layout import Layout

reports = st.lists(st.tuples(st.integers(0, 20), st.integers(1, 2**45)), max_size=200)


@given(reports)
def test_last_per_berth_keeps_the_greatest_rank_per_berth(events: list[tuple[int, int]]) -> None:
    berths = np.array([b for b, _ in events], dtype=np.int64)
    ranks = np.array([r for _, r in events], dtype=np.int64)
    got_b, got_r = last_per_berth(*by_berth(berths, ranks))
    expected: dict[int, int] = {}
    for berth, rank in events:
        expected[berth] = max(rank, expected.get(berth, 0))
    assert dict(zip(got_b.tolist(), got_r.tolist(), strict=True)) == expected
    assert got_b.tolist() == sorted(expected)


def test_builder_flattens_dedupes_and_counts_everything() -> None:
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
    builder.add(Decoded("gone", np.array([0]), np.array([9])))  # dropped from the registry meanwhile
    assert builder.events == 5
    batch = builder.build(Layout.build({"a": 3, "b": 2}))
    assert batch.index.tolist() == [1, 2, 4]  # lot b's berths follow lot a's three
    assert batch.ranks.tolist() == [11, 20, 5]
    assert batch.events_by_lot == {0: 3, 1: 1}
    assert batch.events == 4
    assert batch.statuses == {"a": 7}
    assert batch.rejected == {"a": 2}
    assert batch.rejected_unattributed == 2
    assert batch.touched_lots() == ["a", "b"]
