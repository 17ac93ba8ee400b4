"""Nearest lots with room: a bounding-box prefilter, then exact haversine on the candidates."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parking_hub.query.availability import Availability
from parking_hub.query.index import FloatArray, IntArray

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


@dataclass(frozen=True, slots=True)
class NearestQuery:
    lat: float
    lon: float
    limit: int = 5
    radius_m: float = 2000.0
    min_free: int = 1
    features: tuple[str, ...] = ()
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class LotHit:
    position: int
    distance_m: float


def haversine_m(lat: float, lon: float, lats: FloatArray, lons: FloatArray) -> FloatArray:
    phi1, phi2 = math.radians(lat), np.radians(lats)
    dphi = phi2 - phi1
    dlmb = np.radians(lons) - math.radians(lon)
    a = np.sin(dphi / 2) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    result: FloatArray = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result


def _within_box(lat: float, lon: float, radius_m: float, lats: FloatArray, lons: FloatArray) -> IntArray:
    """Positions that may lie within radius_m: a box that is never smaller than the circle."""
    dlat = radius_m / METRES_PER_DEGREE
    near = np.abs(lats - lat) <= dlat
    widest = abs(lat) + dlat
    if widest < 89.0:
        dlon = dlat / math.cos(math.radians(widest))
        if dlon < 180:
            near &= np.abs((lons - lon + 180.0) % 360.0 - 180.0) <= dlon
    return np.flatnonzero(near)


def nearest_lots(state: Availability, query: NearestQuery) -> list[LotHit]:
    idx = state.index
    candidates = _within_box(query.lat, query.lon, query.radius_m, idx.lat, idx.lon)
    free = state.free_counts(query.features)
    keep = free[candidates] >= query.min_free
    if query.kind is not None:
        keep &= idx.on_street[candidates] == (query.kind == "on_street")
    candidates = candidates[keep]
    distance = haversine_m(query.lat, query.lon, idx.lat[candidates], idx.lon[candidates])
    inside = distance <= query.radius_m
    candidates, distance = candidates[inside], distance[inside]
    # Lots are in id order, so the position breaks distance ties by lot_id.
    order = np.lexsort((candidates, distance))[: query.limit]
    return [LotHit(int(candidates[k]), float(distance[k])) for k in order]
