"""A fixed grid of cells over longitude and latitude: which points may lie near a place or in a box.

Points are sorted by cell key (row * columns + column), so a row's run of cells is one contiguous
run of the sorted points, found with two binary searches: a query costs two searches per grid row
it spans, whatever the number of points in the city. Callers that keep their own arrays in grid
order (`order`) read a run as a slice, without gathering.

The functions outside the class take plain numbers and return plain numbers, so that the compiled
search (`kernels.py`) runs the same code as the Python one.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from parking_hub.arrays import FloatArray, IntArray
from parking_hub.query.geo import METRES_PER_DEGREE, lon_half_width_deg

CELL_DEG = 0.01  # about 1.1 km north-south: a 2 km query reads about 5 rows of cells
T = TypeVar("T", bound=np.generic)
_MARGIN = 1.0 + 1e-9  # widen by rounding's worth, never narrow: callers filter exactly afterwards


Spans = tuple[int, int, int, int]  # two column spans, first..last each; the second may be empty (0, -1)


def row_of(lat: float, cell_deg: float, rows: int) -> int:
    return min(max(int((lat + 90.0) // cell_deg), 0), rows - 1)


def col_of(lon: float, cell_deg: float, cols: int) -> int:
    return min(max(int((lon + 180.0) // cell_deg), 0), cols - 1)


def cell_key(lat: float, lon: float, cell_deg: float, rows: int, cols: int) -> int:
    return row_of(lat, cell_deg, rows) * cols + col_of(lon, cell_deg, cols)


def cell_area_m2(lat: float, cell_deg: float) -> float:
    side = cell_deg * METRES_PER_DEGREE
    return side * side * max(math.cos(math.radians(lat)), 1e-6)


def lon_spans(west: float, east: float, cell_deg: float, cols: int) -> Spans:
    """Column spans covering west..east, which may run past the antimeridian on either side;
    west > east (a box that crosses it) reads as west..east + 360."""
    if east < west:
        east += 360
    if east - west >= 360:
        return 0, cols - 1, 0, -1
    if west < -180:
        west, east = west + 360, east + 360
    if east <= 180:
        return col_of(west, cell_deg, cols), col_of(east, cell_deg, cols), 0, -1
    first, last = col_of(west, cell_deg, cols), col_of(east - 360, cell_deg, cols)
    if last >= first - 1:  # the two pieces meet: the whole row
        return 0, cols - 1, 0, -1
    return first, cols - 1, 0, last


def circle_cells(  # noqa: PLR0917 (numba compiles positional parameters, not keyword-only ones)
    lat: float, lon: float, radius_m: float, cell_deg: float, rows: int, cols: int
) -> tuple[int, int, int, int, int, int]:
    """The first and last row, and the column spans, of the cells that hold every point within
    radius_m of (lat, lon), and some a little farther."""
    dlat = radius_m / METRES_PER_DEGREE * _MARGIN
    half_width = lon_half_width_deg(lat, radius_m * _MARGIN) * _MARGIN  # inf: every longitude
    west0, east0, west1, east1 = lon_spans(lon - half_width, lon + half_width, cell_deg, cols)
    return row_of(lat - dlat, cell_deg, rows), row_of(lat + dlat, cell_deg, rows), west0, east0, west1, east1


@dataclass(frozen=True, slots=True, eq=False)
class Grid:
    order: IntArray  # point positions, sorted by cell key
    keys: IntArray  # the points' cell keys, sorted
    key_list: list[int]  # the same as a list, for binary searches from Python
    cell_deg: float
    rows: int
    cols: int

    @classmethod
    def build(cls, lat: FloatArray, lon: FloatArray, cell_deg: float = CELL_DEG) -> Grid:
        rows, cols = math.ceil(180 / cell_deg), math.ceil(360 / cell_deg)
        row = np.clip(((lat + 90.0) // cell_deg).astype(np.int64), 0, rows - 1)
        col = np.clip(((lon + 180.0) // cell_deg).astype(np.int64), 0, cols - 1)
        keys = row * cols + col
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        return cls(
            order=order,
            keys=sorted_keys,
            key_list=sorted_keys.tolist(),
            cell_deg=cell_deg,
            rows=rows,
            cols=cols,
        )

    def _runs(self, first_row: int, last_row: int, spans: Spans) -> list[slice]:
        # Two binary searches per row and span, in plain Python: for the few rows of a typical
        # query this is several times quicker than the same searches as numpy calls.
        keys, runs = self.key_list, []
        pairs = [(first, last) for first, last in (spans[:2], spans[2:]) if first <= last]
        for row in range(first_row, last_row + 1):
            for first, last in pairs:
                start = bisect.bisect_left(keys, row * self.cols + first)
                stop = bisect.bisect_left(keys, row * self.cols + last + 1, lo=start)
                if start < stop:
                    runs.append(slice(start, stop))
        return runs

    def cell_count_and_area(self, lat: float, lon: float) -> tuple[int, float]:
        """How many points share the cell of (lat, lon), and the cell's area in square metres."""
        key = cell_key(lat, lon, self.cell_deg, self.rows, self.cols)
        count = bisect.bisect_left(self.key_list, key + 1) - bisect.bisect_left(self.key_list, key)
        return count, cell_area_m2(lat, self.cell_deg)

    def near(self, lat: float, lon: float, radius_m: float) -> list[slice]:
        """Runs of `order` holding every point within radius_m of (lat, lon), and some a little farther."""
        first_row, last_row, *spans = circle_cells(lat, lon, radius_m, self.cell_deg, self.rows, self.cols)
        return self._runs(first_row, last_row, (spans[0], spans[1], spans[2], spans[3]))

    def box(self, west: float, south: float, east: float, north: float) -> IntArray:
        """Positions of every point in cells that meet the box; west > east crosses the antimeridian."""
        first_row, last_row = row_of(south, self.cell_deg, self.rows), row_of(north, self.cell_deg, self.rows)
        runs = self._runs(first_row, last_row, lon_spans(west, east, self.cell_deg, self.cols))
        return self.take(self.order, runs)

    @staticmethod
    def take(array: npt.NDArray[T], runs: list[slice]) -> npt.NDArray[T]:
        """The runs of an array kept in grid order, as one array (a view when there is one run)."""
        if len(runs) == 1:
            return array[runs[0]]
        return np.concatenate([array[run] for run in runs]) if runs else array[:0]
