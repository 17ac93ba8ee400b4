"""NGSI-LD geo-queries (georel, geometry, coordinates) on the entities' `location`, answered from the
city's grid index: the grid finds the candidate lots, exact geometry then decides each entity.

Supported: `near;maxDistance==m` and/or `;minDistance==m` around a Point (great-circle metres);
`within`, `intersects` and `disjoint` with a Polygon or MultiPolygon (every entity is a point, so
within and intersects agree); `equals` with a Point. Polygon edges are straight in longitude and
latitude, as GeoJSON draws them; holes are honoured (GEOS, through shapely, tests the points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import shapely

from parking_hub.api.ngsi.selection import SPOT, Run, owners, spot_points
from parking_hub.arrays import BoolArray, FloatArray, IntArray
from parking_hub.query.area import Box, lots_in_box
from parking_hub.query.geo import METRES_PER_DEGREE, distances_m, unit_vector, unit_vectors
from parking_hub.query.index import CityIndex

GEORELS = ("near", "within", "intersects", "disjoint", "equals")
MAX_VERTICES = 10_000


class GeoQueryError(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class GeoQuery:
    georel: str
    min_m: float | None  # near only
    max_m: float | None
    point: tuple[float, float] | None  # (lon, lat) for near and equals
    polygons: tuple[tuple[FloatArray, ...], ...]  # rings of (n, 2) lon/lat, per polygon


def parse(georel: str | None, geometry: str | None, coordinates: Any, geoproperty: str | None) -> GeoQuery:
    """A geo-query from its three parts; `coordinates` as JSON text or as already-parsed JSON."""
    if georel is None or geometry is None or coordinates is None:
        raise GeoQueryError("georel", "a geo-query needs georel, geometry and coordinates together")
    if geoproperty not in (None, "location"):
        raise GeoQueryError("geoproperty", "geoproperty must be location: the only GeoProperty served")
    relation, *modifiers = georel.split(";")
    if relation not in GEORELS:
        raise GeoQueryError("georel", f"georel must be one of {', '.join(GEORELS)}")
    if isinstance(coordinates, str):
        try:
            coordinates = orjson.loads(coordinates)
        except orjson.JSONDecodeError:
            raise GeoQueryError("coordinates", "coordinates must be a JSON array") from None
    if relation in ("near", "equals"):
        if geometry != "Point":
            raise GeoQueryError("geometry", f"{relation} takes a Point geometry")
        point = _position(coordinates)
        min_m, max_m = _distances(modifiers) if relation == "near" else (None, None)
        return GeoQuery(relation, min_m, max_m, point, ())
    if modifiers:
        raise GeoQueryError("georel", f"{relation} takes no modifier")
    polygons = _polygons(relation, geometry, coordinates)
    if sum(len(ring) for polygon in polygons for ring in polygon) > MAX_VERTICES:
        raise GeoQueryError("coordinates", f"a geo-query takes at most {MAX_VERTICES} positions")
    return GeoQuery(relation, None, None, None, polygons)


def _polygons(relation: str, geometry: str, coordinates: Any) -> tuple[tuple[FloatArray, ...], ...]:
    if geometry == "Polygon":
        return (_polygon(coordinates),)
    if geometry != "MultiPolygon":
        raise GeoQueryError("geometry", f"{relation} takes a Polygon or MultiPolygon geometry")
    if not isinstance(coordinates, list) or not coordinates:
        raise GeoQueryError("coordinates", "a MultiPolygon's coordinates are a list of polygons")
    return tuple(_polygon(p) for p in coordinates)


def _distances(modifiers: list[str]) -> tuple[float | None, float | None]:
    found: dict[str, float] = {}
    for modifier in modifiers:
        name, _, value = modifier.partition("==")
        if name not in ("maxDistance", "minDistance") or name in found:
            raise GeoQueryError("georel", "near takes ;maxDistance==metres and/or ;minDistance==metres")
        try:
            distance = float(value)
        except ValueError:
            distance = math.nan
        if not 0 <= distance < math.inf:
            raise GeoQueryError("georel", f"{name} must be a number of metres, at least 0")
        found[name] = distance
    if not found:
        raise GeoQueryError("georel", "near needs maxDistance or minDistance")
    return found.get("minDistance"), found.get("maxDistance")


def _position(value: Any) -> tuple[float, float]:
    if (
        isinstance(value, list)
        and len(value) in (2, 3)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and -180 <= value[0] <= 180
        and -90 <= value[1] <= 90
    ):
        return float(value[0]), float(value[1])
    raise GeoQueryError("coordinates", f"{str(value)[:60]} is not a [lon, lat] position")


def _polygon(value: Any) -> tuple[FloatArray, ...]:
    if not isinstance(value, list) or not value:
        raise GeoQueryError("coordinates", "a Polygon's coordinates are a list of rings")
    rings = []
    for ring in value:
        if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
            raise GeoQueryError("coordinates", "each ring is a closed list of at least four positions")
        rings.append(np.array([_position(p) for p in ring], dtype=np.float64))
    return tuple(rings)


def keep(runs: list[Run], index: CityIndex, query: GeoQuery) -> list[Run]:
    near_lots = _candidate_lots(index, query)
    kept = []
    for run in runs:
        items = np.asarray(run.items, dtype=np.int64)
        if run.type == SPOT:
            if near_lots is not None:
                items = items[np.isin(owners(index, items)[0], near_lots)]
            _, _, lon, lat = spot_points(index, items)
        else:
            if near_lots is not None:
                items = items[np.isin(items, near_lots)]
            lon, lat = index.lon[items], index.lat[items]
        kept.append(Run(run.type, items[_inside(query, lon, lat)]))
    return kept


def _candidate_lots(index: CityIndex, query: GeoQuery) -> IntArray | None:
    """Lots whose point or bays may match, from the grid; None when every lot may (disjoint, minDistance)."""
    reach = index.max_extent_m  # a bay lies this far from its lot's point at most
    if query.georel in ("near", "equals") and query.point is not None:
        if query.max_m is None and query.georel == "near":
            return None
        lon, lat = query.point
        runs = index.grid.near(lat, lon, (query.max_m or 0.0) + reach + 1.0)
        return np.sort(index.grid.take(index.grid.order, runs))
    if query.georel == "disjoint":
        return None
    margin = (reach + 1.0) / METRES_PER_DEGREE
    found = []
    for polygon in query.polygons:
        outer = polygon[0]
        (west, south), (east, north) = outer.min(axis=0), outer.max(axis=0)
        lon_margin = margin / max(math.cos(math.radians(max(abs(south), abs(north)))), 1e-6)
        box = Box(west - lon_margin, south - margin, east + lon_margin, north + margin)
        found.append(lots_in_box(index, box))
    return np.unique(np.concatenate(found))


def _inside(query: GeoQuery, lon: FloatArray, lat: FloatArray) -> BoolArray:
    if query.point is not None:
        if query.georel == "equals":
            same: BoolArray = (lon == query.point[0]) & (lat == query.point[1])
            return same
        distance = distances_m(unit_vector(query.point[1], query.point[0]), unit_vectors(lat, lon))
        mask = np.ones(len(lon), dtype=bool)
        if query.max_m is not None:
            mask &= distance <= query.max_m
        if query.min_m is not None:
            mask &= distance >= query.min_m
        return mask
    shape = shapely.MultiPolygon([shapely.Polygon(rings[0], rings[1:]) for rings in query.polygons])
    shapely.prepare(shape)
    inside: BoolArray = shapely.intersects_xy(shape, lon, lat)  # edges and vertices count as inside
    result: BoolArray = ~inside if query.georel == "disjoint" else inside
    return result
