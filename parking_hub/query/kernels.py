"""Compiled inner loops (numba): a lot-level search as one call, its first reach, grid cells and
widening included, instead of many small numpy and Python steps, whose fixed cost per call, not
the data, was most of a query's time.

The grid and geometry functions the search shares with the Python code (`grid.py`, `geo.py`,
`nearest.py`) stay plain Python there and are compiled here where the search calls them. numba's
cache beside this module is keyed by this file alone: after editing those functions, clear it
(`__pycache__/kernels.*.nbi` and `.nbc`) or set NUMBA_CACHE_DIR elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numba
import numpy as np
from numba.extending import register_jitable

from parking_hub.arrays import BoolArray, FloatArray, IntArray
from parking_hub.query import geo, grid, nearest

for _shared in (
    geo.unit_vector,
    geo.chord_squared_to_m,
    geo.metres_to_chord_squared,
    geo.lon_half_width_deg,
    grid.row_of,
    grid.col_of,
    grid.cell_key,
    grid.cell_area_m2,
    grid.lon_spans,
    grid.circle_cells,
    nearest.first_reach,
):
    register_jitable(_shared)


def _compiled(function: Callable[..., object]) -> Callable[..., object]:
    """Compiled on first use and cached beside the module (or in NUMBA_CACHE_DIR); where no cache
    directory is writable, compiled afresh in each process (about a second)."""
    try:
        compiled: Callable[..., object] = numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:
        compiled = numba.njit(nogil=True)(function)
    return compiled


def _lot_passes(  # noqa: PLR0917 (numba compiles positional parameters, not keyword-only ones)
    lot: int,
    on_street: BoolArray,
    kind: int,
    max_height_m: FloatArray,
    height_m: float,
    access_bit: IntArray,
    access_mask: int,
    per_hour: FloatArray,
    max_per_hour: float,
    arrival_ms: int,
    hours_first: IntArray,
    hours_count: IntArray,
    hours_edges_ms: IntArray,
    hours_open_from: BoolArray,
) -> bool:
    """Whether a lot is of `kind` (-1 any, 0 off-street, 1 on-street), takes a vehicle of height_m
    (a lot of unknown clearance does), has one of the access values in access_mask, costs at most
    max_per_hour (inf: any, unknown too) and is open at arrival_ms (-1: open or not)."""
    if kind >= 0 and on_street[lot] != (kind == 1):
        return False
    if max_height_m[lot] < height_m or (access_bit[lot] & access_mask) == 0:
        return False
    if max_per_hour != np.inf and not per_hour[lot] <= max_per_hour:  # NaN (unknown) fails too
        return False
    first = hours_first[lot]
    if arrival_ms < 0 or first < 0:
        return True
    k = np.searchsorted(hours_edges_ms[first : first + hours_count[lot]], arrival_ms, side="right")
    return bool(hours_open_from[first + max(k - 1, 0)])


lot_passes = _compiled(_lot_passes)


def _passing(lots: IntArray, *filters: object) -> BoolArray:
    """lot_passes for each of the lots given."""
    result = np.empty(len(lots), dtype=np.bool_)
    for k in range(len(lots)):
        result[k] = lot_passes(lots[k], *filters)
    return result


passing = cast(Callable[..., BoolArray], _compiled(_passing))


def _nearest_in_cells(  # noqa: PLR0917
    keys: IntArray,
    cols: int,
    door_lot: IntArray,
    door_xyz: FloatArray,
    free: IntArray,
    origin: FloatArray,
    cells: tuple[int, int, int, int, int, int],
    max_chord2: float,
    min_free: int,
    out_position: IntArray,
    out_chord2: FloatArray,
    filters: tuple[object, ...],
) -> int:
    """Fills out_* (their length is the limit) with the nearest lots having a door (an entrance,
    or the lot's point) in the grid cells (first row, last row, two column spans; grid.circle_cells),
    within max_chord2, with at least min_free free berths and passing `filters`; nearest first by
    their nearest door, ties by position. Returns how many it found."""
    limit = len(out_position)
    found = 0
    qx, qy, qz = origin[0], origin[1], origin[2]
    first_row, last_row, west0, east0, west1, east1 = cells
    for row in range(first_row, last_row + 1):
        for west, east in ((west0, east0), (west1, east1)):  # an empty span (0, -1) reads nothing
            start = np.searchsorted(keys, row * cols + west)
            stop = np.searchsorted(keys, row * cols + east + 1)
            for j in range(start, stop):
                dx, dy, dz = door_xyz[j, 0] - qx, door_xyz[j, 1] - qy, door_xyz[j, 2] - qz
                chord2 = dx * dx + dy * dy + dz * dz
                lot = door_lot[j]
                if chord2 > max_chord2 or free[lot] < min_free:
                    continue
                if found == limit and (
                    chord2 > out_chord2[limit - 1]
                    or (chord2 == out_chord2[limit - 1] and lot > out_position[limit - 1])
                ):
                    continue
                if not lot_passes(lot, *filters):
                    continue
                # A lot with several doors is kept once, by its nearest.
                seen = -1
                for m in range(found):
                    if out_position[m] == lot:
                        seen = m
                if seen >= 0:
                    if out_chord2[seen] <= chord2:
                        continue
                    for m in range(seen, found - 1):
                        out_chord2[m], out_position[m] = out_chord2[m + 1], out_position[m + 1]
                    found -= 1
                k = min(found, limit - 1)  # insertion into the sorted few found so far
                while k > 0 and (
                    out_chord2[k - 1] > chord2 or (out_chord2[k - 1] == chord2 and out_position[k - 1] > lot)
                ):
                    out_chord2[k], out_position[k] = out_chord2[k - 1], out_position[k - 1]
                    k -= 1
                out_chord2[k], out_position[k] = chord2, lot
                found = min(found + 1, limit)
    return found


nearest_in_cells = cast(Callable[..., int], _compiled(_nearest_in_cells))


def _lot_search(  # noqa: PLR0917
    keys: IntArray,
    cell_deg: float,
    rows: int,
    cols: int,
    door_lot: IntArray,
    door_xyz: FloatArray,
    free: IntArray,
    lat: float,
    lon: float,
    reach_m: float,
    radius_m: float,
    min_free: int,
    out_position: IntArray,
    out_distance_m: FloatArray,
    *filters: object,  # lot_passes' arguments after the lot: each typed on its own when called
) -> int:
    """Fills out_* (their length is the limit) with the nearest lots within radius_m, as
    nearest_in_cells finds them over the doors' grid (keys, cell_deg, rows, cols), with their
    distances: nearest first, ties by position. The search reads the cells within reach_m (0: a
    reach judged by the density of the point's cell, nearest.first_reach) and widens GROWTH-fold up
    to radius_m while it has found fewer than the limit. Returns how many it found."""
    limit = len(out_position)
    origin = geo.unit_vector(lat, lon)
    if reach_m <= 0:
        key = grid.cell_key(lat, lon, cell_deg, rows, cols)
        count = int(np.searchsorted(keys, key + 1) - np.searchsorted(keys, key))
        reach_m = nearest.first_reach(count, grid.cell_area_m2(lat, cell_deg), limit, radius_m)
    chord2 = np.empty(limit, dtype=np.float64)
    while True:
        cells = grid.circle_cells(lat, lon, reach_m, cell_deg, rows, cols)
        max_chord2 = geo.metres_to_chord_squared(reach_m)
        found = nearest_in_cells(
            keys, cols, door_lot, door_xyz, free, origin, cells, max_chord2, min_free, out_position, chord2,
            filters,
        )  # fmt: skip
        within = 0
        while within < found:
            distance_m = geo.chord_squared_to_m(chord2[within])
            if distance_m > reach_m:
                break
            out_distance_m[within] = distance_m
            within += 1
        if within >= limit or reach_m >= radius_m:
            return within
        reach_m = min(reach_m * nearest.GROWTH, radius_m)


lot_search = cast(Callable[..., int], _compiled(_lot_search))
