"""History samples: many lots counted at once equal each lot counted alone, and the BITFIELD layout."""

from __future__ import annotations

import numpy as np
import pytest

from parking_hub.store import history, redis_keys

NOW_MS = 1_764_201_600_000  # a boundary of every ring and of the hourly expiry


@pytest.mark.parametrize("seed", range(20))
def test_lots_counted_together_at_one_boundary_each_equal_each_counted_alone(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, size=int(rng.integers(1, 30)))
    boundary_ms = NOW_MS + rng.integers(-3, 3, size=len(sizes)) * history.SAMPLE_S * 1000
    stale_after_ms = rng.choice([60_000, 600_000, 3 * 3600_000], size=len(sizes))
    befores, events, expected = [], [], []
    start = 0
    for lot, size in enumerate(sizes.tolist()):
        ts = boundary_ms[lot] - rng.integers(0, 4 * 3600_000, size=size)
        before = np.where(rng.random(size) < 0.2, 0, ts * 2 + rng.integers(0, 2, size=size))
        n = int(rng.integers(0, 3 * size))
        berth = np.sort(rng.integers(0, size, size=n))
        # Reports from before the lot's old newest to past its boundary, as a write brings them.
        rank = (boundary_ms[lot] + rng.integers(-600_000, 600_000, size=n)) * 2 + rng.integers(0, 2, size=n)
        occupied, known = history.sample_counts(
            before, (berth, rank), int(stale_after_ms[lot]), np.array([boundary_ms[lot] // 1000])
        )
        befores.append(before)
        events.append((berth + start, rank))
        expected.append((int(occupied[0]), int(known[0])))
        start += size
    lot_of_berth = np.repeat(np.arange(len(sizes)), sizes)
    together = history.counts_at_one_boundary(
        np.concatenate(befores),
        lot_of_berth,
        (np.concatenate([b for b, _ in events]), np.concatenate([r for _, r in events])),
        boundary_ms,
        stale_after_ms,
    )
    assert list(zip(together[0].tolist(), together[1].tolist(), strict=True)) == expected


def test_crossed_boundaries_count_the_5_minute_marks_a_clock_passed() -> None:
    mark = NOW_MS // 1000
    before = np.array([NOW_MS - 1, NOW_MS, NOW_MS - 1, 0, NOW_MS - 901_000, 1], dtype=np.int64)
    after = np.array([NOW_MS, NOW_MS + 299_999, NOW_MS + 600_000, NOW_MS, NOW_MS, NOW_MS], dtype=np.int64)
    first, count = history.crossed_boundaries(before, after)
    assert count.tolist() == [1, 0, 3, 0, 4, history.COARSE.span_s // history.SAMPLE_S]
    assert first[[0, 2, 4]].tolist() == [mark, mark, mark - 900]
    assert first[5] == mark - history.COARSE.span_s + history.SAMPLE_S  # the ring's span at most


def test_commands_write_each_sample_in_its_ring_slot() -> None:
    at = NOW_MS // 1000  # a multiple of both steps and of an hour
    commands = history.commands(
        ["a", "b"],
        np.array([10, 2000]),
        np.array([at, at + 300]),
        np.array([1, 2]),
        occupied=np.array([3, 1000, 2000]),
        known=np.array([7, 1000, 2000]),
    )
    fine, coarse = history.FINE, history.COARSE

    def slot(ring: history.Ring, t: int) -> int:
        return history.HEADER_BITS + (t // ring.step_s % ring.slots) * 2 * history.FIELD_BITS

    def head(lot: str, ring: history.Ring, newest: int) -> list[object]:
        key = redis_keys.history(lot, ring.name)
        return ["BITFIELD", key, "SET", "u8", ring.pad_bit, 0, "SET", "i64", 0, newest]

    # Lot b has 2,000 berths: counts are stored in units of 2000 / SCALE.
    scaled = round(1000 * history.SCALE / 2000)
    assert commands == [
        [*head("a", fine, at), "SET", "u20", slot(fine, at), (3 << 10) | 8],
        ["EXPIRE", redis_keys.history("a", fine.name), history.RETAIN_S],
        [
            *head("b", fine, at + 600),
            *("SET", "u20", slot(fine, at + 300), (scaled << 10) | (scaled + 1)),
            *("SET", "u20", slot(fine, at + 600), (history.SCALE << 10) | (history.SCALE + 1)),
        ],
        [*head("a", coarse, at), "SET", "u20", slot(coarse, at), (3 << 10) | 8],
        ["EXPIRE", redis_keys.history("a", coarse.name), history.RETAIN_S],
    ]


def test_a_report_at_the_boundary_itself_is_in_force_there() -> None:
    boundary_ms = np.array([NOW_MS, NOW_MS])
    before = np.array([(NOW_MS - 60_000) * 2 + 1, (NOW_MS - 60_000) * 2 + 1])  # two lots, one berth each
    # Each berth frees: lot 0's report at the boundary itself, lot 1's a millisecond after it.
    events = (np.array([0, 1]), np.array([NOW_MS * 2, (NOW_MS + 1) * 2]))
    stale = np.array([3600_000, 3600_000])
    occupied, known = history.counts_at_one_boundary(before, np.array([0, 1]), events, boundary_ms, stale)
    assert occupied.tolist() == [0, 1]
    assert known.tolist() == [1, 1]
    at_s = boundary_ms[:1] // 1000
    alone = history.sample_counts(before[:1], (np.array([0]), events[1][:1]), 3600_000, at_s)
    assert (alone[0].tolist(), alone[1].tolist()) == ([0], [1])
