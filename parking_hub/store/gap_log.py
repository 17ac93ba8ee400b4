"""Gaps found in a lot's senders' counters, kept by the hour for `gaps_24h` (contract 7.4).

Two places under the lot's hash tag hold them: the meta hash's `gaps` field counts every gap ever,
so the API's check of the meta hash sees the lot move; the hash `parking:{L}:gaps` maps an hour
(since the epoch) to the gaps written in it. Each write drops the hours that have left the window
and sets the key to expire when its newest hour leaves it, so the hash holds at most
WINDOW_HOURS + 1 fields and vanishes once a lot's senders stop skipping. Readers count at answer
time, so a gap ages out with no new write: it counts for 24 to 25 hours after it was written.
"""

from __future__ import annotations

from collections.abc import Mapping

HOUR_MS = 3_600_000
WINDOW_HOURS = 24


def first_hour(now_ms: int) -> int:
    """The oldest hour that still overlaps the last WINDOW_HOURS."""
    return (now_ms - WINDOW_HOURS * HOUR_MS) // HOUR_MS


def recent(hours: Mapping[int, int], now_ms: int) -> int:
    """Gaps written in the hours that overlap the last WINDOW_HOURS."""
    first = first_hour(now_ms)
    return sum(n for hour, n in hours.items() if hour >= first)


def script_args(count: int, now_ms: int) -> list[int]:
    """gaps.lua's arguments for `count` gaps written at `now_ms`."""
    hour = now_ms // HOUR_MS
    return [count, hour, first_hour(now_ms), (hour + WINDOW_HOURS + 1) * HOUR_MS]
