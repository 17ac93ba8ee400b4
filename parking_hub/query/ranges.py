"""Index arithmetic shared by the grid and the berth arrays."""

from __future__ import annotations

import numpy as np

from parking_hub.arrays import IntArray


def expand_ranges(starts: IntArray, stops: IntArray) -> tuple[IntArray, IntArray]:
    """Every index of the ranges starts[k] .. stops[k] - 1, concatenated, and for each its range k."""
    lengths = np.maximum(stops - starts, 0)
    which = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    first_out = np.cumsum(lengths) - lengths
    indexes: IntArray = np.arange(len(which), dtype=np.int64) + (starts - first_out)[which]
    return indexes, which
