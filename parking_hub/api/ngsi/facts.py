"""A lot's facts (contract 7.1) as Smart Data Models parking-site attributes, where a schema has one:
OffStreetParking has them all, OnStreetParking a few."""

from __future__ import annotations

from typing import Any

from parking_hub.api.ngsi.selection import OFF_STREET
from parking_hub.registry import VEHICLE_CLASSES, Lot

# DATEX II vehicle types, as both site schemas list them.
VEHICLE_TYPES = {"car": "car", "motorcycle": "motorcycle", "truck": "lorry", "bus": "bus"}
# Access other than public as each site schema's categories (OnStreetParking has no value for
# customers only).
ACCESS_CATEGORIES = {
    OFF_STREET: {"customers": "forCustomers", "residents": "onlyResidents", "permit": "onlyWithPermit"},
    "OnStreetParking": {"residents": "forResidents", "permit": "onlyWithPermit"},
}
REQUIRED_PERMITS = {"residents": "residentPermit"}
OFF_STREET_ONLY = (
    "openingHours",
    "maximumAllowedHeight",
    "priceRatePerMinute",
    "priceCurrency",
    "contactPoint",
)


def fact_attributes(lot: Lot, entity_type: str) -> tuple[dict[str, Any], list[str]]:
    """The attribute values the lot's facts give an entity of this type, and its categories."""
    facts = lot.facts
    classed = sum(len(lot.features.get(name, ())) for name in VEHICLE_CLASSES)
    vehicles = ["car"] if classed < lot.capacity else []
    vehicles += [name for name in VEHICLE_CLASSES if lot.features.get(name)]
    values: dict[str, Any] = {"allowedVehicleType": [VEHICLE_TYPES[name] for name in vehicles]}
    categories = [ACCESS_CATEGORIES[entity_type].get(facts.access)]
    if facts.access in REQUIRED_PERMITS:
        values["requiredPermit"] = [REQUIRED_PERMITS[facts.access]]
    if facts.opening_hours is not None:
        values["openingHours"] = facts.opening_hours
    if facts.max_height_m is not None:
        values["maximumAllowedHeight"] = facts.max_height_m
    if facts.max_stay_min is not None:
        values["maximumParkingDuration"] = f"PT{facts.max_stay_min}M"  # ISO 8601
    fee = facts.fee
    if fee is not None and fee.per_hour is not None:
        values["priceRatePerMinute"] = round(fee.per_hour / 60, 6)
        categories.append("free" if fee.per_hour == 0 else "feeCharged")
    if fee is not None and fee.currency is not None:
        values["priceCurrency"] = fee.currency
    if facts.address is not None:
        values["address"] = {"streetAddress": facts.address}
    if facts.url is not None:
        values["seeAlso"] = [facts.url]
    if facts.phone is not None:
        values["contactPoint"] = {"telephone": facts.phone}
    if entity_type != OFF_STREET:
        values = {name: value for name, value in values.items() if name not in OFF_STREET_ONLY}
    return values, [category for category in categories if category is not None]
