"""Nearest lots with room, and nearest free berths: grid candidates, then exact great-circle distances.

Only lots in grid cells near the point are read. The search starts from a circle sized by the
density of lots around the point and widens only while it has found fewer than `limit` answers:
in a dense centre the answer lies a few hundred metres away, and a sparse suburb has few lots to
read at any radius. Candidates are ranked by squared chord
length, which orders them exactly as great-circle distance does (see geo.py); ties go by lot id
(lots are in id order, so by position) and berth number.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import NamedTuple, TypeVar

import numpy as np

from parking_hub.arrays import BoolArray, FloatArray, IntArray
from parking_hub.lot_facts import ACCESS
from parking_hub.query.arrival import at_arrival
from parking_hub.query.availability import Availability
from parking_hub.query.geo import (
    chords_squared,
    chords_squared_to_m,
    distances_m,
    metres_to_chord_squared,
    unit_vector,
)
from parking_hub.query.grid import Grid
from parking_hub.query.index import CAR

MIN_REACH_M = 100.0
GROWTH = 4.0
# A first reach expected to hold this many times `limit` lots, judged by the density of the
# query's own grid cell, so most searches end after one pass and few read far more than they need.
FIRST_REACH_MARGIN = 3.0
ACCESS_BITS = {value: 1 << k for k, value in enumerate(ACCESS)}  # as index.access_bit has them
SORT_ALL_BELOW = 256  # up to this many candidates one sort is cheaper than a partition first

Hit = TypeVar("Hit")


@dataclass(frozen=True, slots=True)
class NearestQuery:
    lat: float
    lon: float
    limit: int = 5
    radius_m: float = 2000.0
    min_free: int = 1
    features: tuple[str, ...] = ()
    kind: str | None = None
    vehicle: str = CAR
    height_m: float = 0.0
    access: tuple[str, ...] = ("public",)
    max_per_hour: float = math.inf
    arrival_ms: int | None = None  # None: open or closed alike
    forecast_ms: int | None = None  # a lot must have room then, by its forecast; None: free now

    @property
    def berth_names(self) -> tuple[str, ...]:
        """The features and the vehicle class a counted berth must have, sorted."""
        if not self.features:
            return (self.vehicle,)
        return tuple(sorted({self.vehicle, *self.features}))


class LotHit(NamedTuple):  # a tuple: made several times per request, and quicker to make
    position: int
    distance_m: float


@dataclass(frozen=True, slots=True)
class BerthHit:
    position: int  # the lot
    berth: int
    lat: float
    lon: float
    distance_m: float


Search = Callable[[Availability, NearestQuery, float], list[Hit]]


@functools.cache
def _kernels() -> ModuleType:
    """The compiled searches, imported on the first search: numba and LLVM cost a process about
    90 MiB, which a process that never searches (ingest) does not carry."""
    from parking_hub.query import kernels

    return kernels


def nearest_lots(state: Availability, query: NearestQuery) -> list[LotHit]:
    if query.forecast_ms is None:
        # The whole search, widening included, in one compiled call.
        return _lots_within(state, query, 0.0, query.radius_m, arrival_free(state, query))
    forecast_ms = query.forecast_ms

    def by_forecast(state: Availability, query: NearestQuery, reach_m: float) -> list[LotHit]:
        # Forecasts only for the lots within each reach: each wider pass forecasts its own.
        free = _free_at_arrival(state, query, reach_m, forecast_ms)
        return _lots_within(state, query, reach_m, reach_m, free)

    return _widening(by_forecast, state, query)


def nearest_berths(state: Availability, query: NearestQuery) -> list[BerthHit]:
    return _widening(_berths_within, state, query)


def _widening(search: Search[Hit], state: Availability, query: NearestQuery) -> list[Hit]:
    """The answers within radius_m. A search within a smaller reach that already finds `limit`
    answers has found the nearest ones: everything it did not read lies farther than its reach."""
    count, area = state.index.grid.cell_count_and_area(query.lat, query.lon)
    reach = first_reach(count, area, query.limit, query.radius_m)
    while True:
        hits = search(state, query, reach)
        if len(hits) >= query.limit or reach >= query.radius_m:
            return hits
        reach = min(reach * GROWTH, query.radius_m)


def first_reach(count: int, area_m2: float, limit: int, radius_m: float) -> float:
    """The first reach of a search from a point whose grid cell, of area_m2, holds count points."""
    if count == 0:
        reach = math.sqrt(area_m2)
    else:
        reach = math.sqrt(FIRST_REACH_MARGIN * limit * area_m2 / (math.pi * count))
    return min(max(reach, MIN_REACH_M), radius_m)


def _nearest_first(key: FloatArray, limit: int, *tie_breaks: IntArray) -> IntArray:
    """Indexes of the `limit` smallest keys, smallest first, ties in tie_breaks order."""
    if len(key) > max(limit, SORT_ALL_BELOW):
        # Keep every candidate as near as the limit-th one, so ties at the cut are decided by id.
        near = np.flatnonzero(key <= np.partition(key, limit - 1)[limit - 1])
        order = np.lexsort((*[t[near] for t in reversed(tie_breaks)], key[near]))
        result: IntArray = near[order[:limit]]
        return result
    return np.lexsort((*reversed(tie_breaks), key))[:limit]


def arrival_free(state: Availability, query: NearestQuery) -> IntArray:
    """Per lot, the berths counted as free for the driver on arrival: those free now."""
    return state.free_counts(query.berth_names)


def _free_at_arrival(state: Availability, query: NearestQuery, reach_m: float, forecast_ms: int) -> IntArray:
    """Per lot, min_free where the lot's forecast at forecast_ms has that many free berths, else 0:
    forecast only for the lots with an entrance in the cells within reach (the search reads no
    others), the rest of the city left at 0."""
    idx = state.index
    lots = np.unique(Grid.take(idx.door_lot, idx.doors.near(query.lat, query.lon, reach_m)))
    expected, _ = at_arrival(state, lots, arrival_free(state, query)[lots], forecast_ms, query.min_free)
    free = np.zeros(len(idx.lots), dtype=np.int64)
    # As the result shows it, one decimal: 3.99999 of float arithmetic is the 4.0 the driver reads.
    free[lots[np.round(expected, 1) >= query.min_free]] = query.min_free
    return free


def _filters(state: Availability, query: NearestQuery) -> tuple[object, ...]:
    """kernels.lot_passes' arguments after the lot."""
    idx, hours = state.index, state.hours
    access_mask = sum(ACCESS_BITS[value] for value in query.access)
    return (
        idx.on_street,
        -1 if query.kind is None else int(query.kind == "on_street"),
        idx.max_height_m,
        query.height_m,
        idx.access_bit,
        access_mask,
        idx.per_hour,
        query.max_per_hour,
        -1 if query.arrival_ms is None else query.arrival_ms,
        hours.first,
        hours.count,
        hours.edges_ms,
        hours.open_from,
    )


def _candidates(
    state: Availability, query: NearestQuery, reach_m: float, min_free: int
) -> tuple[IntArray, FloatArray]:
    """Lots within reach that have room and are of the kind asked, with their squared chord."""
    idx = state.index
    runs = idx.grid.near(query.lat, query.lon, reach_m)
    lots = Grid.take(idx.grid.order, runs)
    chord2 = chords_squared(unit_vector(query.lat, query.lon), Grid.take(idx.xyz_by_cell, runs))
    in_reach = chord2 <= metres_to_chord_squared(reach_m)
    keep: BoolArray = in_reach & (arrival_free(state, query)[lots] >= min_free)
    kept = np.flatnonzero(keep)
    lots, chord2 = lots[kept], chord2[kept]
    usable: BoolArray = _kernels().passing(lots, *_filters(state, query))
    return lots[usable], chord2[usable]


def _lots_within(
    state: Availability, query: NearestQuery, reach_m: float, radius_m: float, free: IntArray
) -> list[LotHit]:
    """kernels.lot_search: the nearest lots with at least min_free of `free`, from reach_m (0:
    judged by density) widening up to radius_m."""
    idx, doors = state.index, state.index.doors
    position = np.empty(query.limit, dtype=np.int64)
    distance_m = np.empty(query.limit, dtype=np.float64)
    found: int = _kernels().lot_search(
        doors.keys,
        doors.cell_deg,
        doors.rows,
        doors.cols,
        idx.door_lot,
        idx.door_xyz,
        free,
        query.lat,
        query.lon,
        reach_m,
        radius_m,
        query.min_free,
        position,
        distance_m,
        *_filters(state, query),
    )
    return list(map(LotHit, position[:found].tolist(), distance_m[:found].tolist()))


def _berths_within(state: Availability, query: NearestQuery, reach_m: float) -> list[BerthHit]:
    """Free berths nearest first. A lot's bays lie within its extent of its point, so a lot at
    distance d has no bay nearer than d - extent nor farther than d + extent."""
    idx, bays = state.index, state.index.bays
    lots, chord2 = _candidates(state, query, reach_m + idx.max_extent_m, 1)
    lot_distance = chords_squared_to_m(chord2)
    extent = bays.extent_m[lots]
    nearest_bay = np.maximum(lot_distance - extent, 0.0)
    in_reach = nearest_bay <= reach_m
    lots, lot_distance = lots[in_reach], lot_distance[in_reach]
    nearest_bay, extent = nearest_bay[in_reach], extent[in_reach]
    # Walk lots by their nearest possible bay until `limit` free berths are in hand: no berth of
    # a lot whose nearest possible bay is farther than the farthest of those can make the cut.
    by_reach = np.argsort(nearest_bay, kind="stable")
    enough = int(np.searchsorted(np.cumsum(arrival_free(state, query)[lots[by_reach]]), query.limit))
    bound = reach_m
    if enough < len(lots):
        bound = min(bound, float((lot_distance + extent)[by_reach[: enough + 1]].max()))
    read = nearest_bay <= bound
    lots, lot_distance = lots[read], lot_distance[read]

    berths, which = idx.berths_of(lots)
    free = state.free[berths]
    mask = idx.features_mask(query.berth_names)
    if mask is not None:
        free &= mask[berths]
    berths, which = berths[free], which[free]
    owner = lots[which]
    number = berths - idx.layout.offsets[owner]
    distance = lot_distance[which]
    bay = bays.first[owner]
    has_bay = bay >= 0
    bay[has_bay] += number[has_bay]
    distance[has_bay] = distances_m(unit_vector(query.lat, query.lon), bays.xyz[bay[has_bay]])
    inside = np.flatnonzero(distance <= reach_m)
    rows = inside[_nearest_first(distance[inside], query.limit, owner[inside], number[inside])]
    hits = []
    for k in rows.tolist():
        i, b = int(owner[k]), int(bay[k])
        lat, lon = (idx.lat[i], idx.lon[i]) if b < 0 else (bays.lat[b], bays.lon[b])
        hits.append(BerthHit(i, int(number[k]), float(lat), float(lon), float(distance[k])))
    return hits
