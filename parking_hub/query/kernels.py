"""Compiled inner loops (numba): a lot-level search as one call instead of some twenty small numpy
calls, whose fixed cost per call, not the data, was most of a query's time."""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from parking_hub.query.geo import FloatArray
from parking_hub.query.index import BoolArray
from parking_hub.query.ranges import IntArray


def _nearest_in_cells(  # noqa: PLR0917 (numba compiles positional parameters, not keyword-only ones)
    keys: IntArray,
    order: IntArray,
    xyz_by_cell: FloatArray,
    free: IntArray,
    on_street: BoolArray,
    kind: int,
    origin: FloatArray,
    first_row: int,
    last_row: int,
    spans: IntArray,
    cols: int,
    max_chord2: float,
    min_free: int,
    out_position: IntArray,
    out_chord2: FloatArray,
) -> int:
    """Fills out_* (their length is the limit) with the nearest lots in the grid cells of rows
    first_row..last_row and column spans `spans`, that lie within max_chord2, have at least min_free
    free berths and are of `kind` (-1 any, 0 off-street, 1 on-street); nearest first, ties by
    position. Returns how many it found."""
    limit = len(out_position)
    found = 0
    qx, qy, qz = origin[0], origin[1], origin[2]
    for row in range(first_row, last_row + 1):
        for s in range(spans.shape[0]):
            start = np.searchsorted(keys, row * cols + spans[s, 0])
            stop = np.searchsorted(keys, row * cols + spans[s, 1] + 1)
            for j in range(start, stop):
                dx, dy, dz = xyz_by_cell[j, 0] - qx, xyz_by_cell[j, 1] - qy, xyz_by_cell[j, 2] - qz
                chord2 = dx * dx + dy * dy + dz * dz
                lot = order[j]
                wrong_kind = kind >= 0 and on_street[lot] != (kind == 1)
                if chord2 > max_chord2 or free[lot] < min_free or wrong_kind:
                    continue
                if found == limit and (
                    chord2 > out_chord2[limit - 1]
                    or (chord2 == out_chord2[limit - 1] and lot > out_position[limit - 1])
                ):
                    continue
                k = min(found, limit - 1)  # insertion into the sorted few found so far
                while k > 0 and (
                    out_chord2[k - 1] > chord2 or (out_chord2[k - 1] == chord2 and out_position[k - 1] > lot)
                ):
                    out_chord2[k], out_position[k] = out_chord2[k - 1], out_position[k - 1]
                    k -= 1
                out_chord2[k], out_position[k] = chord2, lot
                found = min(found + 1, limit)
    return found


def _compiled(function: Callable[..., int]) -> Callable[..., int]:
    """Compiled on first use and cached beside the module (or in NUMBA_CACHE_DIR); where no cache
    directory is writable, compiled afresh in each process (about a second)."""
    try:
        compiled: Callable[..., int] = numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:
        compiled = numba.njit(nogil=True)(function)
    return compiled


nearest_in_cells = _compiled(_nearest_in_cells)
