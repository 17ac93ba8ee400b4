"""The lot registry as a JSON Schema (draft 2020-12), built from the limits the loader enforces.

A schema can not compare one field with another, so four rules stay with the loader alone: berth
numbers below `capacity`, `berths` of exactly `capacity` points, lot ids unique in a file, and a
device bound to one lot only.
"""

from __future__ import annotations

from typing import Any

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


def _text(what: str) -> dict[str, Any]:
    return {"description": what, "type": "string", "minLength": 1, "maxLength": MAX_TEXT}


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
            "description": "berth numbers per feature",
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
        "`berths` of exactly capacity points, lot ids unique in the file, and each device bound to one "
        "lot.",
        "type": "object",
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": {"$ref": "#/$defs/lot"}},
        },
        "required": ["type", "features"],
        "$defs": {"lot": LOT},
        "examples": [{"type": "FeatureCollection", "features": [EXAMPLE_LOT]}],
    }
