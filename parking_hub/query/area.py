"""Lots inside a longitude/latitude box, in lot id order, for listing and for streams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parking_hub.arrays import IntArray
from parking_hub.query.index import CityIndex


@dataclass(frozen=True, slots=True)
class Box:
    """west > east means the box crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float


def lots_in_box(index: CityIndex, box: Box, after: int = -1) -> IntArray:
    """Positions (so lot id order) of the lots inside the box, edges included, past position `after`."""
    lots = index.grid.box(box.west, box.south, box.east, box.north)
    lat, lon = index.lat[lots], index.lon[lots]
    inside = (lat >= box.south) & (lat <= box.north)
    if box.west <= box.east:
        inside &= (lon >= box.west) & (lon <= box.east)
    else:
        inside &= (lon >= box.west) | (lon <= box.east)
    found = np.sort(lots[inside])
    result: IntArray = found[found > after]
    return result
