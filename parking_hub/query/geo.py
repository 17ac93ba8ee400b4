"""Great-circle geometry on the sphere of radius R = 6,371,008.8 m (the mean Earth radius).

Points are kept as unit vectors too: the squared chord |p - q|^2 orders points exactly as the
great-circle distance does, costs a few multiplications, and 2R * asin(chord / 2) is the haversine
distance itself (haversine's `a` is (chord / 2)^2), as exact for short distances as the usual formula.
"""

from __future__ import annotations

import math

import numpy as np

from parking_hub.arrays import FloatArray

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


def unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """(n, 3) unit vectors of points given in degrees."""
    phi, lmb = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lmb), cos_phi * np.sin(lmb), np.sin(phi)))


def unit_vector(lat: float, lon: float) -> FloatArray:
    phi, lmb = math.radians(lat), math.radians(lon)
    return np.array([math.cos(phi) * math.cos(lmb), math.cos(phi) * math.sin(lmb), math.sin(phi)])


_SUM_XYZ = np.ones(3)


def chords_squared(origin: FloatArray, points: FloatArray) -> FloatArray:
    """Squared chord lengths from a unit vector (or one per point) to (n, 3) unit vectors."""
    diff = points - origin
    np.square(diff, out=diff)
    result: FloatArray = diff @ _SUM_XYZ
    return result


def chord_squared_to_m(chord_squared: float) -> float:
    """One squared chord as a distance, as chords_squared_to_m gives many, without numpy's cost per call."""
    return 2 * EARTH_RADIUS_M * math.asin(min(math.sqrt(chord_squared) * 0.5, 1.0))


def chords_squared_to_m(chord_squared: FloatArray) -> FloatArray:
    """Squared chords as great-circle distances: 2R asin(chord / 2)."""
    result: FloatArray = (2 * EARTH_RADIUS_M) * np.arcsin(np.minimum(np.sqrt(chord_squared) * 0.5, 1.0))
    return result


def distances_m(origin: FloatArray, points: FloatArray) -> FloatArray:
    """Great-circle distances from a unit vector (or one per point) to (n, 3) unit vectors."""
    return chords_squared_to_m(chords_squared(origin, points))


def metres_to_chord_squared(distance_m: float) -> float:
    """The squared chord of a great-circle distance: points within distance_m have a squared chord
    at most this."""
    return (2 * math.sin(min(distance_m / (2 * EARTH_RADIUS_M), math.pi / 2))) ** 2


def lon_half_width_deg(lat: float, radius_m: float) -> float:
    """Half the longitude span of the circle of radius_m around a point at `lat`, in degrees;
    infinite when the circle reaches a pole, so every longitude is in reach."""
    delta = radius_m / EARTH_RADIUS_M
    if math.radians(abs(lat)) + delta >= math.pi / 2:
        return math.inf
    # The circle's tangent meridians: sin(dlon) = sin(delta) / cos(lat).
    return math.degrees(math.asin(min(1.0, math.sin(delta) / math.cos(math.radians(lat)))))
