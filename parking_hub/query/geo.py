"""Great-circle geometry on the sphere of radius R = 6,371,008.8 m (the mean Earth radius).

Points are kept as unit vectors too: the squared chord |p - q|^2 orders points exactly as the
great-circle distance does, costs a few multiplications, and 2R * asin(chord / 2) is the haversine
distance itself (haversine's `a` is (chord / 2)^2), as exact for short distances as the usual formula.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180

FloatArray = npt.NDArray[np.float64]


def unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """(n, 3) unit vectors of points given in degrees."""
    phi, lmb = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lmb), cos_phi * np.sin(lmb), np.sin(phi)))


def unit_vector(lat: float, lon: float) -> FloatArray:
    phi, lmb = math.radians(lat), math.radians(lon)
    return np.array([math.cos(phi) * math.cos(lmb), math.cos(phi) * math.sin(lmb), math.sin(phi)])


def distances_m(origin: FloatArray, points: FloatArray) -> FloatArray:
    """Great-circle distances from one unit vector to (n, 3) unit vectors."""
    diff = points - origin
    half_chord = np.sqrt(np.einsum("ij,ij->i", diff, diff)) * 0.5
    result: FloatArray = (2 * EARTH_RADIUS_M) * np.arcsin(np.minimum(half_chord, 1.0))
    return result


def haversine_m(lat: float, lon: float, lats: FloatArray, lons: FloatArray) -> FloatArray:
    """The textbook formula, for checks and for callers without unit vectors."""
    phi1, phi2 = math.radians(lat), np.radians(lats)
    dphi = phi2 - phi1
    dlmb = np.radians(lons) - math.radians(lon)
    a = np.sin(dphi / 2) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    result: FloatArray = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result


def lon_half_width_deg(lat: float, radius_m: float) -> float | None:
    """Half the longitude span of the circle of radius_m around a point at `lat`, in degrees;
    None when the circle reaches a pole, so every longitude is in reach."""
    delta = radius_m / EARTH_RADIUS_M
    if math.radians(abs(lat)) + delta >= math.pi / 2:
        return None
    # The circle's tangent meridians: sin(dlon) = sin(delta) / cos(lat).
    return math.degrees(math.asin(min(1.0, math.sin(delta) / math.cos(math.radians(lat)))))
