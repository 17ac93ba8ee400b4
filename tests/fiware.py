"""The FIWARE Smart Data Models Parking schemas, resolved offline, as a check on NGSI-LD entities.

The schemas describe the key-value form; a normalized entity is first checked for NGSI-LD's shape
(every attribute a Property, GeoProperty or Relationship) and then reduced to values and validated.
Written apart from the code under test, so the two do not share a mistake.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

DATA = Path(__file__).parent / "data" / "fiware-parking"
SCHEMAS = ("OffStreetParking", "OnStreetParking", "ParkingSpot")
NGSI_KEYS = ("id", "type", "@context")


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


@functools.cache
def validators() -> dict[str, Draft202012Validator]:
    common = load("common-schema.json")
    schemas = {name: load(f"{name}/schema.json") for name in SCHEMAS}
    resources = [(s["$id"], Resource.from_contents(s)) for s in (common, *schemas.values())]
    registry: Registry[Any] = Registry().with_resources(resources)
    return {
        name: Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
        for name, schema in schemas.items()
    }


def check_key_values(entity: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when the entity breaks its type's schema."""
    validators()[entity["type"]].validate(entity)


def reduce_normalized(entity: dict[str, Any]) -> dict[str, Any]:
    """The key-value form of a normalized entity, after asserting NGSI-LD's normalized shape."""
    reduced = {}
    for name, attribute in entity.items():
        if name in NGSI_KEYS:
            reduced[name] = attribute
            continue
        kind = attribute["type"]
        assert kind in ("Property", "GeoProperty", "Relationship"), (name, attribute)
        if "observedAt" in attribute:
            assert FormatChecker().conforms(attribute["observedAt"], "date-time"), attribute
        reduced[name] = attribute["object" if kind == "Relationship" else "value"]
    return reduced


def check_normalized(entity: dict[str, Any]) -> None:
    check_key_values(reduce_normalized(entity))


def context_terms() -> set[str]:
    return set(load("context.jsonld")["@context"])
