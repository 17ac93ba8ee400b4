"""`gaps_24h`: gaps counted by the hour they were written, over the hours that overlap the last 24."""

from __future__ import annotations

from parking_hub.store.gap_log import HOUR_MS, first_hour, recent

H0 = 490_000  # an hour since the epoch (late 2025)
T = H0 * HOUR_MS


def test_gaps_count_until_their_hour_has_left_the_window() -> None:
    hours = {H0: 2, H0 + 5: 1}
    assert recent(hours, T + 5 * HOUR_MS + 1) == 3
    assert recent(hours, T + 25 * HOUR_MS - 1) == 3  # H0's last instant is still within 24 h
    assert recent(hours, T + 25 * HOUR_MS) == 1
    assert recent(hours, T + 30 * HOUR_MS - 1) == 1
    assert recent(hours, T + 30 * HOUR_MS) == 0


def test_a_gap_counts_for_24_to_25_hours() -> None:
    for written in (T, T + HOUR_MS - 1):
        hours = {written // HOUR_MS: 1}
        assert recent(hours, written + 24 * HOUR_MS - 1) == 1
        assert recent(hours, T + 25 * HOUR_MS) == 0


def test_the_window_keeps_25_hours() -> None:
    assert first_hour(T) == H0 - 24
    assert first_hour(T + HOUR_MS - 1) == H0 - 24
    assert recent(dict.fromkeys(range(H0 - 30, H0 + 1), 1), T + 1) == 25
