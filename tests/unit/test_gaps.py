"""Lost messages found from their senders' counters (contract 7.4)."""

from __future__ import annotations

from parking_hub.ingest.gaps import CounterGaps

T = 1_764_201_600_000


def seen(tracker: CounterGaps, numbers: list[int], sender: str = "gw") -> list[int | None]:
    """Each message newer than the one before, as a live sender sends them."""
    return [tracker.see("lot", sender, n, T + i) for i, n in enumerate(numbers)]


def test_a_skip_is_a_gap_from_the_first_missing_number() -> None:
    assert seen(CounterGaps(restarts=(0, 1)), [7, 8, 9, 12, 13, 20]) == [None, None, None, 10, None, 14]


def test_duplicates_and_late_arrivals_are_not_gaps_and_do_not_move_the_count_back() -> None:
    assert seen(CounterGaps(restarts=(0, 1)), [5, 5, 3, 6, 4, 7]) == [None] * 6


def test_a_restart_begins_again_without_a_gap() -> None:
    gateway = CounterGaps(restarts=(0, 1))
    assert seen(gateway, [40, 41, 1, 2, 0, 1, 3]) == [None, None, None, None, None, None, 2]
    assert seen(CounterGaps(restarts=(0,)), [40, 1, 0, 1, 2]) == [None] * 5


def test_an_old_first_message_delivered_again_is_not_a_restart() -> None:
    tracker = CounterGaps(restarts=(0, 1))
    assert [tracker.see("lot", "gw", n, T + n) for n in (1, 2, 3, 4)] == [None] * 4
    assert tracker.see("lot", "gw", 1, T + 1) is None  # a duplicate of the first frame
    assert tracker.see("lot", "gw", 5, T + 5) is None  # no false gap after it


def test_senders_are_tracked_apart_per_lot() -> None:
    tracker = CounterGaps(restarts=(0, 1))
    firsts = [tracker.see("a", "gw", 5, T), tracker.see("b", "gw", 9, T), tracker.see("a", "gw", 6, T)]
    assert firsts == [None] * 3
    assert [tracker.see("a", "other", 2, T), tracker.see("b", "gw", 11, T)] == [None, 10]


def test_a_forgotten_sender_starts_afresh_without_a_false_gap() -> None:
    tracker = CounterGaps(restarts=(0, 1), max_senders=2)
    for sender in ("a", "b", "c"):  # "c" makes the tracker forget "a", the oldest
        tracker.see("lot", sender, 5, T)
    assert tracker.see("lot", "a", 9, T) is None
    assert tracker.see("lot", "c", 9, T) == 6
