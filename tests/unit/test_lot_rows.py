"""/v1/nearest's kept rows: a row kept across recounts reads as one encoded afresh."""

from __future__ import annotations

import random

import numpy as np

from parking_hub.api.nearest import LotRows
from parking_hub.arrays import IntArray
from parking_hub.query.availability import Availability
from tests.unit.test_nearest import NOW, city, random_state


def late_swap(state: Availability, rng: np.random.Generator) -> IntArray:
    """A free and an occupied berth of one lot, neither the lot's newest report: flipping both with
    reports 1 ms later changes neither the lot's counts nor its last update, only which are free."""
    layout = state.index.layout
    for i in rng.permutation(len(state.index.lots)).tolist():
        span = layout.span(i)
        newest = span.start + int(np.argmax(state.ranks[span]))
        known = np.arange(span.start, span.stop)[state.known[span]]
        free, occupied = known[state.free[known]], known[~state.free[known]]
        free, occupied = free[free != newest], occupied[occupied != newest]
        if len(free) and len(occupied):
            return np.array([free[0], occupied[0]])
    raise AssertionError("no lot has a free and an occupied berth besides its newest report")


def test_a_kept_row_is_what_a_fresh_encoding_gives_after_any_recount() -> None:
    rng = random.Random(3)
    lots = city(rng, 60, (36.07, 120.38), 0.02)
    state = random_state(rng, lots)
    kept = LotRows()
    np_rng = np.random.default_rng(5)
    names = [("car",), ("car", "ev")]
    for step in range(40):
        now = NOW + step * 60_000
        if step % 2:
            flips = np_rng.choice(
                state.index.layout.berth_count, size=int(np_rng.integers(1, 30)), replace=False
            )
            state.ranks[flips] = now * 2 + state.free[flips].astype(np.int64)  # each flips its state
        else:
            flips = late_swap(state, np_rng)
            state.ranks[flips] += 2 + np.where(state.free[flips], 1, -1)  # 1 ms later, flipped
        state.recount(np.unique(state.index.layout.lot_of(flips)), now)
        state.tick(now)
        for i in range(len(lots)):
            for feature_names in names:
                fresh = LotRows().encoded(state, i, feature_names, 12.5, now)
                assert kept.encoded(state, i, feature_names, 12.5, now) == fresh


def test_a_recount_that_changes_nothing_shown_keeps_the_row() -> None:
    rng = random.Random(4)
    state = random_state(rng, city(rng, 20, (36.07, 120.38), 0.02))
    before = state.shown_changed_in.copy()
    state.recount(np.arange(20), NOW)  # the same reports, counted again
    assert np.array_equal(state.shown_changed_in, before)
    i = 0
    span = state.index.layout.span(i)
    newest = span.start + int(np.argmax(state.ranks[span]))
    state.ranks[newest] += 2  # the lot's newest report, 1 ms later in the same state: its time moves
    state.recount(np.array([i]), NOW + 1)
    assert np.flatnonzero(state.shown_changed_in != before).tolist() == [i]
