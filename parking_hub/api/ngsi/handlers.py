"""GET /ngsi-ld/v1/entities and /ngsi-ld/v1/entities/{id}: the query, the representation the client
accepts, and NGSI-LD's problem-details errors."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from http import HTTPStatus

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from parking_hub.api import params
from parking_hub.api.errors import ApiError, invalid
from parking_hub.api.keys import current_state
from parking_hub.api.ngsi.entities import CONTEXT, PARKING_CONTEXT, Entity, build, key_values
from parking_hub.api.ngsi.schemas import MAX_LIMIT, EntitiesQuery, EntityPath, EntityQuery
from parking_hub.api.ngsi.selection import ENTITY_TYPES, entity_types, named, page, total, whole_city
from parking_hub.api.rendering import LIVE_CACHE, encoded_json_response

JSON = "application/json"
LD_JSON = "application/ld+json"
CONTEXT_LINK = f'<{PARKING_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="{LD_JSON}"'
# NGSI-LD query parameters this server does not implement: refused as such, not as unknown names.
UNSUPPORTED = frozenset(
    (
        "attrs", "containedBy", "coordinates", "csf", "datasetId", "entityMap", "expandValues", "format",
        "geometry", "geometryProperty", "geoproperty", "georel", "idPattern", "join", "joinLevel", "lang",
        "local", "omit", "pick", "q", "scopeQ", "via",
    )
)  # fmt: skip
ERROR_TYPES = {
    400: (
        "https://uri.etsi.org/ngsi-ld/errors/BadRequestData",
        "The request includes input data which does not meet the requirements of the operation",
    ),
    404: ("https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound", "The referred resource has not been found"),
    422: ("https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported", "The operation is not supported"),
}


def problem_details(handler: Handler) -> Handler:
    """Errors as NGSI-LD clients expect them: problem details, typed by NGSI-LD's error URIs."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            kind, title = ERROR_TYPES.get(exc.status, ("about:blank", HTTPStatus(exc.status).phrase))
            body = {"type": kind, "title": title, "detail": exc.message}
            return web.Response(
                status=exc.status, body=orjson.dumps(body), content_type=JSON, headers=exc.headers
            )

    return answer


@problem_details
async def entities(request: web.Request) -> web.StreamResponse:
    query = _parse(EntitiesQuery, request)
    if query.type is None and query.id is None:
        raise invalid("type", "type is required unless id is given")
    if query.limit == 0 and query.count != "true":
        raise invalid("limit", f"limit must be between 1 and {MAX_LIMIT}, or 0 with count=true")
    media = negotiate(request.headers.get("Accept"))
    state = current_state(request)
    types = ENTITY_TYPES if query.type_names is None else entity_types(query.type_names)
    runs = whole_city(state.index, types) if query.ids is None else named(state.index, query.ids, types)
    found = build(state, page(runs, query.offset, query.limit))
    headers = {"NGSILD-Results-Count": str(total(runs))} if query.count == "true" else {}
    return _answer(request, found, media, query.options == "keyValues", headers)


@problem_details
async def entity(request: web.Request) -> web.StreamResponse:
    query = _parse(EntityQuery, request)
    entity_id = params.parse(EntityPath, request.match_info).entity_id
    media = negotiate(request.headers.get("Accept"))
    state = current_state(request)
    found = build(state, named(state.index, [entity_id], ENTITY_TYPES))
    if not found:
        raise ApiError(404, "not_found", f"no entity {entity_id}", "entity_id")
    return _answer(request, found[0], media, query.options == "keyValues", {})


def _parse(model: type[params.Model], request: web.Request) -> params.Model:
    refused = sorted(UNSUPPORTED.intersection(request.query))
    if refused:
        raise ApiError(422, "not_supported", f"{refused[0]} is not supported by this server", refused[0])
    return params.parse(model, request.query)


def negotiate(accept: str | None) -> str:
    """application/ld+json when the Accept header prefers it, else application/json (also on a tie)."""
    if not accept:
        return JSON
    # Per candidate: the quality of the most specific media range that covers it.
    best = {JSON: (-1, 0.0), LD_JSON: (-1, 0.0)}
    for part in accept.split(","):
        media_range, *media_params = (p.strip() for p in part.split(";"))
        quality = _quality(media_params)
        for candidate, (specificity, _) in best.items():
            covers = _specificity(media_range.lower(), candidate)
            if covers > specificity:
                best[candidate] = (covers, quality)
    json_q, ld_q = best[JSON][1], best[LD_JSON][1]
    if max(json_q, ld_q) <= 0:
        raise ApiError(406, "not_acceptable", f"this server answers {JSON} or {LD_JSON} only")
    return LD_JSON if ld_q > json_q else JSON


def _specificity(media_range: str, candidate: str) -> int:
    if media_range == candidate:
        return 2
    if media_range == candidate.partition("/")[0] + "/*":
        return 1
    return 0 if media_range == "*/*" else -1


def _quality(media_params: list[str]) -> float:
    for param in media_params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                return 0.0
            return quality if 0 <= quality <= 1 else 0.0
    return 1.0


def _answer(
    request: web.Request,
    body: list[Entity] | Entity,
    media: str,
    simplified: bool,
    headers: Mapping[str, str],
) -> web.Response:
    """A list for a query, one entity for a retrieval; @context in the body or in the Link header."""
    data = orjson.dumps(
        [_shaped(e, media, simplified) for e in body]
        if isinstance(body, list)
        else _shaped(body, media, simplified)
    )
    response = encoded_json_response(request, data, cache=LIVE_CACHE)
    response.content_type = media
    response.headers.update(headers)
    if media == JSON:
        response.headers["Link"] = CONTEXT_LINK
    response.headers["Vary"] = "Accept"
    return response


def _shaped(entity: Entity, media: str, simplified: bool) -> Entity:
    shaped = key_values(entity) if simplified else entity
    return shaped | {"@context": list(CONTEXT)} if media == LD_JSON else shaped
