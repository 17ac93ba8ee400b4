"""Descriptions a client reads instead of the code (contract 7.6): the registry's JSON Schema and
the AsyncAPI document of the MQTT interface, each built once and served byte for byte as kept in
docs/ (`python -m parking_hub.interfaces docs` rewrites those copies)."""

from __future__ import annotations

import functools

import orjson

from parking_hub.interfaces.asyncapi import asyncapi_document
from parking_hub.interfaces.registry_schema import registry_schema

# The file in docs/ for each document, and the function that builds it.
DOCUMENTS = {"registry.schema.json": registry_schema, "asyncapi.json": asyncapi_document}


@functools.cache
def encoded(name: str) -> bytes:
    return orjson.dumps(DOCUMENTS[name](), option=orjson.OPT_INDENT_2) + b"\n"


__all__ = ["DOCUMENTS", "asyncapi_document", "encoded", "registry_schema"]
