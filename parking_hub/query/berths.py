"""Each berth of one lot as one letter, under the same freshness and offline rules as the counts."""

from __future__ import annotations

import numpy as np

from parking_hub.query.availability import Availability

FREE, OCCUPIED, UNKNOWN = "f", "o", "u"


def berth_states(state: Availability, i: int) -> str:
    """Lot i's berths in berth order: f free, o occupied, u unknown (never reported, stale, or the
    lot offline). The mirror's `known` and `free` flags are the ones its counts are summed from."""
    span = state.index.layout.span(i)
    letters = np.where(
        state.free[span], ord(FREE), np.where(state.known[span], ord(OCCUPIED), ord(UNKNOWN))
    ).astype(np.uint8)
    return letters.tobytes().decode("ascii")
