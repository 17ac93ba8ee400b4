"""The OpenAPI 3.1 description, built from the routes the app registers and their pydantic models.

Each route is registered from an `Endpoint`, which names its parameter and answer models; apispec
assembles the document and pydantic writes every schema. The tests compare the document with the
app's real router, so a route cannot exist without a description, nor a description without a route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from apispec import APISpec
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from parking_hub import __version__
from parking_hub.api.rendering import json_response
from parking_hub.api.schemas import ErrorBody

REF = "#/components/schemas/{model}"
EVENT_STREAM = "text/event-stream"
DESCRIPTION = (
    "Real-time parking availability: the nearest lots with room, each lot's live counts, and a "
    "stream of changes. A berth counts as free only while its sensor reports free and is fresh; "
    "a berth never heard from, silent for three heartbeat periods, or in an offline lot is unknown. "
    'Every error answers {"error": {"code", "message", "param"}}.'
)


@dataclass(frozen=True, slots=True)
class Answer:
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    handler: Handler
    summary: str
    tag: str
    answers: Mapping[int, Answer]
    description: str = ""
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # further operation fields, as OpenAPI has them
    schemas: tuple[type[BaseModel], ...] = ()  # models that `extra` or the text refers to
    method: str = "get"
    body: type[BaseModel] | None = None  # the JSON request body, for a POST
    name: str | None = None  # the operationId, where one handler serves two paths

    @property
    def operation_id(self) -> str:
        return self.name or self.handler.__name__


def _parameters(model: type[BaseModel], where: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    result = []
    for name, declared in schema["properties"].items():
        prop = dict(declared)
        description = prop.pop("description", "")
        prop.pop("title", None)
        # An optional parameter is simply left out of the query; "null" is no value a query carries.
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if branches:
            prop |= branches[0]
        if prop.get("default", ...) is None:
            del prop["default"]
        result.append(
            {
                "name": name,
                "in": where,
                "required": name in required,
                "description": description,
                "schema": prop,
            }
        )
    return result


def _server_sent_event(data: type[BaseModel] | None) -> dict[str, Any]:
    """One event of a stream as a client parses it; its `data` is a JSON document of the model."""
    data_schema: dict[str, Any] = {"type": "string"}
    if data is not None:
        data_schema |= {
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": REF.format(model=data.__name__)},
        }
    return {
        "type": "object",
        "properties": {
            "event": {"type": "string"},
            "data": data_schema,
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
        "required": ["data"],
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    parameters = []
    if endpoint.path_params is not None:
        parameters += _parameters(endpoint.path_params, "path")
    if endpoint.query is not None:
        parameters += _parameters(endpoint.query, "query")
    responses: dict[str, Any] = {}
    for status, answer in sorted(endpoint.answers.items()):
        body: dict[str, Any] = {"description": answer.description}
        if answer.media_type == EVENT_STREAM:
            body["content"] = {EVENT_STREAM: {"schema": _server_sent_event(answer.model)}}
        elif answer.model is not None:
            schema = {"$ref": REF.format(model=answer.model.__name__)}
            body["content"] = {answer.media_type: {"schema": schema}}
        elif answer.media_type != "application/json":
            body["content"] = {answer.media_type: {"schema": {"type": "string"}}}
        responses[str(status)] = body
    operation = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.body is not None:
        schema = {"$ref": REF.format(model=endpoint.body.__name__)}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return operation | dict(endpoint.extra)


def build_spec(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    spec = APISpec(
        title="parking-hub",
        version=__version__,
        openapi_version="3.1.0",
        info={"description": DESCRIPTION, "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
    )
    models = {a.model for e in endpoints for a in e.answers.values() if a.model is not None}
    models |= {m for e in endpoints for m in e.schemas} | {e.body for e in endpoints if e.body} | {ErrorBody}
    _, schemas = models_json_schema(
        [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    for name, schema in sorted(schemas.get("$defs", {}).items()):
        spec.components.schema(name, schema)
    for endpoint in endpoints:
        spec.path(path=endpoint.path, operations={endpoint.method: _operation(endpoint)})
    return spec.to_dict()


spec_key = web.AppKey("openapi", dict[str, Any])


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request, request.app[spec_key], cache="public, max-age=300", etag=True)
