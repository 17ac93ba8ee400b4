"""The lot registry as a JSON Schema (draft 2020-12), built from the limits the loader enforces.

A schema can not compare one field with another, nor parse a time zone or opening hours, so these
rules stay with the loader alone: berth numbers below `capacity`, `berths` of exactly `capacity`
points, a berth under one vehicle class at most, lot ids unique in a file, a device bound to one
lot only, `timezone` an IANA name and `opening_hours` valid OpenStreetMap syntax.
"""

from __future__ import annotations

from typing import Any

from parking_hub.lot_facts import (
    ACCESS,
    CURRENCY,
    FEE_KEYS,
    MAX_ENTRANCES,
    MAX_FREE_MINUTES,
    MAX_HEIGHT_M,
    MAX_HOURS_TEXT,
    MAX_PRICE,
    MAX_STAY_MIN,
    MAX_TIMEZONE_TEXT,
    PHONE,
    URL,
)
from parking_hub.registry import (
    CODECS,
    DEFAULT_HEARTBEAT_S,
    DEVICE_ID,
    DISTANCE_CODECS,
    FEATURES,
    KINDS,
    LOT_ID,
    MAX_CAPACITY,
    MAX_HEARTBEAT_S,
    MAX_LAT,
    NO_OPERATOR,
    VEHICLE_CLASSES,
)

SCHEMA_ID = "/schemas/registry.json"
MAX_TEXT = 256
MAX_THRESHOLD_MM = 100_000

EXAMPLE_LOT: dict[str, Any] = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [120.3826, 36.0671]},
    "properties": {
        "id": "qd-0001",
        "name": "Taidong Walking Street P1",
        "operator": "op-07",
        "kind": "on_street",
        "capacity": 4,
        "features": {"ev": [0, 1], "accessible": [3]},
        "berths": [
            [120.38251, 36.06702],
            [120.38255, 36.06702],
            [120.38259, 36.06702],
            [120.38263, 36.06702],
        ],
        "codec": "nwave-nps405",
        "devices": {
            "70B3D57ED0000001": 0,
            "nps-qd-0001-001": {"berth": 1, "codec": "bosch-pls"},
            "ldds-qd-0001-002": {"berth": 2, "codec": "dragino-ldds75", "threshold_mm": 1200},
        },
        "heartbeat_s": 10800,
        "timezone": "Asia/Shanghai",
        "opening_hours": "Mo-Fr 07:00-22:00; Sa,Su 08:00-20:00; PH off",
        "entrances": [[120.38248, 36.06699]],
        "max_height_m": 2.1,
        "max_stay_min": 240,
        "access": "public",
        "fee": {
            "currency": "CNY",
            "per_hour": 6.0,
            "free_minutes": 15,
            "max_per_day": 60.0,
            "text": "6 CNY/h",
        },
        "address": "Taidong 3rd Road, Shibei District, Qingdao",
        "url": "https://parking.example.org/qd-0001",
        "phone": "+86 532 8000 0000",
    },
}


def _point(what: str) -> dict[str, Any]:
    return {
        "description": f"{what}: [longitude, latitude] in degrees (WGS 84)",
        "type": "array",
        "prefixItems": [
            {"type": "number", "minimum": -180, "maximum": 180},
            {"type": "number", "minimum": -MAX_LAT, "maximum": MAX_LAT},
        ],
        "minItems": 2,
        "maxItems": 2,
    }


def _text(what: str, pattern: str | None = None) -> dict[str, Any]:
    text = {"description": what, "type": "string", "minLength": 1, "maxLength": MAX_TEXT}
    return text if pattern is None else text | {"pattern": pattern}


def _number(what: str, maximum: float, *, positive: bool = False) -> dict[str, Any]:
    low = {"exclusiveMinimum": 0} if positive else {"minimum": 0}
    return {"description": what, "type": "number", **low, "maximum": maximum}


FEE_PROPERTIES: dict[str, Any] = {
    "currency": _text("ISO 4217 code", CURRENCY.pattern),
    "per_hour": _number("price of an hour; 0: free of charge", MAX_PRICE),
    "free_minutes": {"type": "integer", "minimum": 0, "maximum": MAX_FREE_MINUTES},
    "max_per_day": _number("the most a day costs", MAX_PRICE),
    "text": _text("the tariff in words"),
}
assert set(FEE_PROPERTIES) == set(FEE_KEYS)
FEE = {
    "description": "what parking costs; absent: unknown",
    "type": "object",
    "properties": FEE_PROPERTIES,
    "minProperties": 1,
    "additionalProperties": False,
}

FACTS: dict[str, Any] = {
    "timezone": {
        "description": "IANA time zone of opening_hours; default: the hub's --timezone",
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_TIMEZONE_TEXT,
    },
    "opening_hours": {
        "description": "OpenStreetMap opening_hours syntax (PH: the public holidays of the country the lot "
        "lies in); absent: always open",
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_HOURS_TEXT,
    },
    "entrances": {
        "description": "where vehicles enter; distances to the lot are to its nearest entrance",
        "type": "array",
        "items": _point("an entrance"),
        "minItems": 1,
        "maxItems": MAX_ENTRANCES,
    },
    "max_height_m": _number("vehicle clearance, metres", MAX_HEIGHT_M, positive=True),
    "max_stay_min": {
        "description": "longest stay allowed, minutes",
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_STAY_MIN,
    },
    "access": {"description": "who may park", "enum": list(ACCESS), "default": "public"},
    "fee": FEE,
    "address": _text("postal address, for display"),
    "url": _text("web page, http:// or https://", URL.pattern),
    "phone": _text("telephone number", PHONE.pattern),
}


BERTH = {"description": "a berth number, 0 .. capacity - 1", "type": "integer", "minimum": 0}
DISTANCE_CODEC = {"required": ["codec"], "properties": {"codec": {"enum": list(DISTANCE_CODECS)}}}

DEVICE = {
    "description": "the berth the device reports for, with its own codec and distance threshold",
    "type": "object",
    "properties": {
        "berth": BERTH,
        "codec": {"description": "this device's payload format, instead of the lot's", "enum": list(CODECS)},
        "threshold_mm": {
            "description": "distance sensors: the berth is occupied while the distance is below this",
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_THRESHOLD_MM,
        },
    },
    "required": ["berth"],
    "additionalProperties": False,
    "if": DISTANCE_CODEC,
    "then": {"required": ["threshold_mm"]},
}

PROPERTIES = {
    "type": "object",
    "properties": {
        "id": {
            "description": "the lot id, unique in the registry; it names the lot in topics and URLs",
            "type": "string",
            "pattern": LOT_ID.pattern,
        },
        "name": _text("display name; default: the id"),
        "operator": _text(f"who runs the lot; default: {NO_OPERATOR!r}"),
        "kind": {"description": "off-street car park or on-street bays", "enum": list(KINDS)},
        "capacity": {
            "description": "number of berths, numbered 0 .. capacity - 1",
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_CAPACITY,
        },
        "heartbeat_s": {
            "description": "the longest time between two reports of one sensor, in seconds; a berth silent "
            "for three of these is unknown",
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_HEARTBEAT_S,
            "default": DEFAULT_HEARTBEAT_S,
        },
        "features": {
            "description": "berth numbers per feature; a berth under one of the vehicle classes "
            f"{', '.join(VEHICLE_CLASSES)} is for that class only, every other berth is a car berth",
            "type": "object",
            "propertyNames": {"enum": list(FEATURES)},
            "additionalProperties": {"type": "array", "items": BERTH, "uniqueItems": True},
        },
        "berths": {
            "description": "one point per berth (on-street bays), exactly capacity of them",
            "type": "array",
            "items": _point("a berth's position"),
        },
        "codec": {"description": "the payload format of the lot's LoRaWAN sensors", "enum": list(CODECS)},
        "devices": {
            "description": "LoRaWAN devices: DevEUI (16 hex digits, any case) or network-server device id, "
            "to a berth number or a device object",
            "type": "object",
            "propertyNames": {"pattern": DEVICE_ID.pattern},
            "additionalProperties": {"oneOf": [BERTH, DEVICE]},
        },
        **FACTS,
    },
    "required": ["id", "kind", "capacity"],
    # A device object without a codec of its own reads the lot's.
    "if": DISTANCE_CODEC,
    "then": {
        "properties": {
            "devices": {
                "additionalProperties": {
                    "if": {"type": "object", "not": {"required": ["codec"]}},
                    "then": {"required": ["threshold_mm"]},
                }
            }
        }
    },
}

LOT = {
    "description": "one lot",
    "type": "object",
    "properties": {
        "type": {"const": "Feature"},
        "geometry": {
            "type": "object",
            "properties": {"type": {"const": "Point"}, "coordinates": _point("the lot's position")},
            "required": ["type", "coordinates"],
        },
        "properties": PROPERTIES,
    },
    "required": ["type", "geometry", "properties"],
}


def registry_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "parking-hub lot registry",
        "description": "A GeoJSON FeatureCollection with one Point Feature per lot, as `parking-hub lots "
        "load` takes it. The loader also checks what a schema can not: berth numbers below capacity, "
        "`berths` of exactly capacity points, a berth under one vehicle class at most, lot ids unique in "
        "the file, each device bound to one lot, `timezone` an IANA name and `opening_hours` valid "
        "OpenStreetMap syntax.",
        "type": "object",
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": {"$ref": "#/$defs/lot"}},
        },
        "required": ["type", "features"],
        "$defs": {"lot": LOT},
        "examples": [{"type": "FeatureCollection", "features": [EXAMPLE_LOT]}],
    }
