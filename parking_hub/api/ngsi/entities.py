"""Normalized NGSI-LD entities from the live state: Property, GeoProperty and Relationship objects
whose names and values follow the Smart Data Models Parking schemas."""

from __future__ import annotations

from typing import Any

import numpy as np

from parking_hub.api.ngsi.facts import fact_attributes
from parking_hub.api.ngsi.selection import OFF_STREET, ON_STREET, SPOT, Run, site_id, spot_id, spot_points
from parking_hub.api.rendering import iso
from parking_hub.arrays import IntArray
from parking_hub.query.availability import Availability, Counts
from parking_hub.rank import ts_of

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
PARKING_CONTEXT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld"
)
CONTEXT = (PARKING_CONTEXT, CORE_CONTEXT)  # the core context last, as NGSI-LD asks
# Registry features as the schemas' site categories (both site schemas list these two values).
FEATURE_CATEGORIES = {"ev": "forElectricalCharging", "accessible": "forDisabled"}
SPOT_CATEGORY = {False: "offStreet", True: "onStreet"}
# Every berth has its own sensor: the DATEX II detection type the site schemas call single-space.
DETECTION = ["singleSpaceDetection"]

Entity = dict[str, Any]


def build(state: Availability, runs: list[Run]) -> list[Entity]:
    entities: list[Entity] = []
    for run in runs:
        if run.type == SPOT:
            entities += _spots(state, np.asarray(run.items, dtype=np.int64))
        else:
            entities += [_site(state, run.type, i) for i in np.asarray(run.items).tolist()]
    return entities


def key_values(entity: Entity) -> Entity:
    """The simplified form (NGSI-LD options=keyValues): each attribute reduced to its value."""
    return {name: _plain(attribute) for name, attribute in entity.items()}


def _plain(attribute: Any) -> Any:
    if isinstance(attribute, dict):
        return attribute["object"] if attribute["type"] == "Relationship" else attribute["value"]
    return attribute  # id, type, @context


def _property(value: Any, observed_at: str | None = None) -> Entity:
    prop = {"type": "Property", "value": value}
    return prop if observed_at is None else prop | {"observedAt": observed_at}


def _point(lon: float, lat: float) -> Entity:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def _site_status(counts: Counts) -> list[str] | None:
    """DATEX II site status, only where the counts decide it: with unknown berths and none free,
    the site may or may not be full, and the schema has no value for that."""
    if counts.free > 0:
        return ["spacesAvailable"]
    if counts.unknown == 0:
        return ["full"]
    return None


def _site(state: Availability, entity_type: str, i: int) -> Entity:
    lot = state.index.lots[i]
    counts = state.lot_counts(i)
    observed = iso(int(state.updated_ms[i]))
    entity: Entity = {
        "id": site_id(entity_type, lot.id),
        "type": entity_type,
        "name": _property(lot.name),
        "location": _point(lot.lon, lot.lat),
        "totalSpotNumber": _property(lot.capacity),
        "availableSpotNumber": _property(counts.free, observed),
        "occupiedSpotNumber": _property(counts.occupied, observed),
        "occupancyDetectionType": _property(DETECTION),
    }
    facts, fact_categories = fact_attributes(lot, entity_type)
    entity |= {name: _property(value) for name, value in facts.items()}
    categories = [category for name, category in FEATURE_CATEGORIES.items() if lot.features.get(name)]
    categories += fact_categories
    if categories:
        entity["category"] = _property(categories)
    if entity_type == OFF_STREET:  # the OnStreetParking schema has neither attribute
        entity["occupancy"] = _property(round(counts.occupied / lot.capacity, 4), observed)
        if status := _site_status(counts):
            entity["status"] = _property(status, observed)
    return entity


def _spots(state: Availability, flat: IntArray) -> list[Entity]:
    """Spots by flat berth position; each at its bay's point where the registry lists bays."""
    index = state.index
    owner, berth, lon, lat = spot_points(index, flat)
    seen_ms = ts_of(state.ranks[flat]).tolist()
    known, free = state.known[flat].tolist(), state.free[flat].tolist()
    spots = []
    for k, (i, b) in enumerate(zip(owner.tolist(), berth.tolist(), strict=True)):
        lot = index.lots[i]
        # A stale or silent berth, or one in an offline lot, is unknown: it was not observed as such.
        if known[k]:
            status = _property("free" if free[k] else "occupied", iso(seen_ms[k]))
        else:
            status = _property("unknown")
        spots.append(
            {
                "id": spot_id(lot.id, b),
                "type": SPOT,
                "location": _point(float(lon[k]), float(lat[k])),
                "status": status,
                "category": _property([SPOT_CATEGORY[lot.kind == "on_street"]]),
                "refParkingSite": {"type": "Relationship", "object": site_id(_site_type(lot.kind), lot.id)},
            }
        )
    return spots


def _site_type(kind: str) -> str:
    return ON_STREET if kind == "on_street" else OFF_STREET
