"""GET /schemas/registry.json and /asyncapi.json: the registry's JSON Schema and the MQTT interface."""

from __future__ import annotations

from aiohttp import web

from parking_hub.api.rendering import encoded_json_response
from parking_hub.interfaces import encoded

CACHE = "public, max-age=300"


async def registry_schema_json(request: web.Request) -> web.Response:
    return encoded_json_response(request, encoded("registry.schema.json"), cache=CACHE, etag=True)


async def asyncapi_json(request: web.Request) -> web.Response:
    return encoded_json_response(request, encoded("asyncapi.json"), cache=CACHE, etag=True)
