"""The published registry schema, for the helpers that write the tests' registries: every registry
the loader takes must validate against it."""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator

from parking_hub.interfaces import registry_schema
from parking_hub.registry import RegistryError, parse_registry

SCHEMA = Draft202012Validator(registry_schema())


def schema_errors(doc: Any) -> list[str]:
    return [error.message for error in SCHEMA.iter_errors(doc)]


def registry_bytes(features: list[dict[str, Any]]) -> bytes:
    """The FeatureCollection of `features`, checked: if the loader takes it, the schema does too."""
    data = orjson.dumps({"type": "FeatureCollection", "features": features})
    try:
        parse_registry(data)
    except RegistryError:
        return data
    errors = schema_errors(orjson.loads(data))
    assert not errors, f"the loader takes a registry the schema refuses: {errors}"
    return data
