"""Which entities a query names, in the order they are served, and one page of them, before any is built.

The order is fixed: OffStreetParking, then OnStreetParking, then ParkingSpot; lots in id order, and a
lot's spots in berth order. A page is cut from index ranges, so paging through millions of spots
never touches more than the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from parking_hub.arrays import FloatArray, IntArray
from parking_hub.query.index import CityIndex

OFF_STREET = "OffStreetParking"
ON_STREET = "OnStreetParking"
SPOT = "ParkingSpot"
ENTITY_TYPES = (OFF_STREET, ON_STREET, SPOT)
# The Smart Data Models context expands each type to this IRI; a client may name a type either way.
TYPE_IRI = "https://smartdatamodels.org/dataModel.Parking/{}"

_LOT_ID = r"([a-z0-9_-]{1,64})"
_SITE_ID = re.compile(rf"urn:ngsi-ld:({OFF_STREET}|{ON_STREET}):{_LOT_ID}")
_SPOT_ID = re.compile(rf"urn:ngsi-ld:{SPOT}:{_LOT_ID}:(0|[1-9][0-9]{{0,5}})")


def site_id(entity_type: str, lot_id: str) -> str:
    return f"urn:ngsi-ld:{entity_type}:{lot_id}"


def spot_id(lot_id: str, berth: int) -> str:
    return f"urn:ngsi-ld:{SPOT}:{lot_id}:{berth}"


def entity_types(names: Iterable[str]) -> tuple[str, ...]:
    """The served types among those named (short names or IRIs), in serving order; others match nothing."""
    wanted = set(names)
    return tuple(t for t in ENTITY_TYPES if t in wanted or TYPE_IRI.format(t) in wanted)


@dataclass(frozen=True, slots=True)
class Run:
    """Entities of one type, in serving order: lot positions for the site types, flat berth
    positions (as CityIndex numbers them) for ParkingSpot."""

    type: str
    items: range | IntArray


def whole_city(index: CityIndex, types: Sequence[str]) -> list[Run]:
    runs = []
    for entity_type in types:
        if entity_type == SPOT:
            runs.append(Run(SPOT, range(index.layout.berth_count)))
        else:
            runs.append(Run(entity_type, np.flatnonzero(index.on_street == (entity_type == ON_STREET))))
    return runs


def named(index: CityIndex, entity_ids: Iterable[str], types: Sequence[str]) -> list[Run]:
    """The entities of `types` among the ids given; ids of no served entity match nothing."""
    found: dict[str, set[int]] = {t: set() for t in types}
    for entity_id in entity_ids:
        if site := _SITE_ID.fullmatch(entity_id):
            entity_type, lot_id = site.groups()
            i = index.layout.position.get(lot_id)
            if entity_type in found and i is not None and index.on_street[i] == (entity_type == ON_STREET):
                found[entity_type].add(i)
        elif spot := _SPOT_ID.fullmatch(entity_id):
            i = index.layout.position.get(spot[1])
            berth = int(spot[2])
            if SPOT in found and i is not None and berth < index.layout.capacity[i]:
                found[SPOT].add(int(index.layout.offsets[i]) + berth)
    return [Run(t, np.array(sorted(items), dtype=np.int64)) for t, items in found.items()]


def owners(index: CityIndex, flat: IntArray) -> tuple[IntArray, IntArray]:
    """The lot position and berth number of each flat berth position."""
    owner = index.layout.lot_of(flat)
    return owner, flat - index.layout.offsets[owner]


def spot_points(index: CityIndex, flat: IntArray) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Owner lot, berth, longitude and latitude of each spot: its bay's point where the registry lists
    bays, else its lot's point."""
    owner, berth = owners(index, flat)
    lat, lon = index.lat[owner], index.lon[owner]
    with_bay = index.bays.first[owner] >= 0
    rows = index.bays.first[owner][with_bay] + berth[with_bay]
    lat[with_bay], lon[with_bay] = index.bays.lat[rows], index.bays.lon[rows]
    return owner, berth, lon, lat


def total(runs: Sequence[Run]) -> int:
    return sum(len(run.items) for run in runs)


def page(runs: Sequence[Run], offset: int, limit: int) -> list[Run]:
    """The entities from `offset` on, at most `limit` of them, still as runs."""
    cut = []
    for run in runs:
        if limit <= 0:
            break
        if offset >= len(run.items):
            offset -= len(run.items)
            continue
        items = run.items[offset : offset + limit]
        cut.append(Run(run.type, items))
        limit -= len(items)
        offset = 0
    return cut
