"""The read-only NGSI-LD context-source surface: entity query (GET, and POST entityOperations/query),
retrieval by id, /types and /attributes; the representation the client accepts; and NGSI-LD's
problem-details errors for everything under /ngsi-ld/."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import ValidationError

from parking_hub.api import params
from parking_hub.api.app_state import current_state
from parking_hub.api.errors import ApiError, invalid
from parking_hub.api.ngsi import filters, geoquery, qlang
from parking_hub.api.ngsi.entities import CONTEXT, PARKING_CONTEXT, Entity, build
from parking_hub.api.ngsi.forms import Shape, feature, feature_collection
from parking_hub.api.ngsi.schemas import (
    ATTRIBUTES,
    MAX_LIMIT,
    EntitiesQuery,
    EntityPath,
    EntityQuery,
    QueryBody,
    TypesQuery,
)
from parking_hub.api.ngsi.selection import (
    ENTITY_TYPES,
    TYPE_IRI,
    entity_types,
    named,
    page,
    total,
    whole_city,
)
from parking_hub.api.rendering import LIVE_CACHE, encoded_json_response

T = TypeVar("T")

JSON = "application/json"
LD_JSON = "application/ld+json"
GEO_JSON = "application/geo+json"
MEDIA = (JSON, LD_JSON, GEO_JSON)
CONTEXT_LINK = f'<{PARKING_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="{LD_JSON}"'
MAX_BODY_BYTES = 256 * 1024
# NGSI-LD query parameters this server does not implement: refused as such, not as unknown names.
UNSUPPORTED = frozenset(
    (
        "containedBy", "csf", "datasetId", "entityMap", "expandValues", "join", "joinLevel", "lang",
        "scopeQ", "via",
    )
)  # fmt: skip


async def entities(request: web.Request) -> web.StreamResponse:
    """GET /ngsi-ld/v1/entities (with or without a trailing slash)."""
    _refuse_unsupported(request.query)
    return _query(request, params.parse(EntitiesQuery, request.query))


async def query_entities(request: web.Request) -> web.StreamResponse:
    """POST /ngsi-ld/v1/entityOperations/query: the same query, its filters in a Query body."""
    _refuse_unsupported(request.query)
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", f"a query body is at most {MAX_BODY_BYTES} bytes")
    try:
        body = QueryBody.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ApiError(
            400, "invalid_request", f"the Query body: {where} {error['msg']}".replace(" : ", ": ")
        ) from None
    return _query(request, params.parse(EntitiesQuery, {**request.query, **body.as_parameters()}))


def _query(request: web.Request, query: EntitiesQuery) -> web.StreamResponse:
    geo = _geo_query(query)
    selectors = (query.type, query.id, query.idPattern, query.attrs, query.q, geo)
    if all(selector is None for selector in selectors):
        raise invalid("type", "type is required unless id, idPattern, attrs, q or a geo-query is given")
    if query.limit == 0 and query.count != "true":
        raise invalid("limit", f"limit must be between 1 and {MAX_LIMIT}, or 0 with count=true")
    predicate = _predicate(query)
    if query.idPattern is not None:
        _checked(lambda: filters.compile_pattern(query.idPattern), "idPattern")
    media = negotiate(request.headers.get("Accept"))
    state = current_state(request)
    types = ENTITY_TYPES if query.type_names is None else entity_types(query.type_names)
    runs = whole_city(state.index, types) if query.ids is None else named(state.index, query.ids, types)
    if geo is not None:
        runs = geoquery.keep(runs, state.index, geo)
    try:
        runs = filters.keep(runs, state, predicate, query.idPattern)
    except filters.TooComplexQuery as exc:
        raise ApiError(403, "too_complex", str(exc)) from None
    found = build(state, page(runs, query.offset, query.limit))
    headers = {"NGSILD-Results-Count": str(total(runs))} if query.count == "true" else {}
    return _answer(request, found, media, _shape(query), headers)


def _geo_query(query: EntitiesQuery) -> geoquery.GeoQuery | None:
    parts = (query.georel, query.geometry, query.coordinates)
    if all(part is None for part in parts):
        return None
    try:
        return geoquery.parse(query.georel, query.geometry, query.coordinates, query.geoproperty)
    except geoquery.GeoQueryError as exc:
        raise invalid(exc.param, str(exc)) from None


def _predicate(query: EntitiesQuery) -> filters.Predicate | None:
    checks = []
    if query.q is not None:
        text = query.q
        parsed = _checked(lambda: qlang.parse(text), "q")
        _checked(lambda: filters.check_patterns(parsed), "q")
        checks.append(filters.q_predicate(parsed))
    if query.attrs is not None:
        checks.append(filters.having_any(query.attrs.split(",")))
    if not checks:
        return None
    return checks[0] if len(checks) == 1 else lambda entity: all(check(entity) for check in checks)


def _checked(step: Callable[[], T], param: str) -> T:
    try:
        return step()
    except (qlang.QueryError, filters.FilterError) as exc:
        raise invalid(param, f"{param} {exc}") from None


def _shape(query: EntitiesQuery | EntityQuery) -> Shape:
    return Shape.of(query.options, query.format, query.attrs, query.pick, query.omit)


async def entity(request: web.Request) -> web.StreamResponse:
    _refuse_unsupported(request.query)
    query = params.parse(EntityQuery, request.query)
    entity_id = params.parse(EntityPath, request.match_info).entity_id
    media = negotiate(request.headers.get("Accept"))
    state = current_state(request)
    found = build(state, named(state.index, [entity_id], ENTITY_TYPES))
    if not found:
        raise ApiError(404, "not_found", f"no entity {entity_id}", "entity_id")
    return _answer(request, found[0], media, _shape(query), {})


async def types(request: web.Request) -> web.StreamResponse:
    """GET /ngsi-ld/v1/types: the entity types served, as a list or (details=true) in detail."""
    query = params.parse(TypesQuery, request.query)
    state = current_state(request)
    counts = dict(
        zip(ENTITY_TYPES, map(len, (r.items for r in whole_city(state.index, ENTITY_TYPES))), strict=True)
    )
    served = [t for t in ENTITY_TYPES if counts[t]]
    if query.details == "true":
        body: Any = [
            {
                "id": TYPE_IRI.format(t),
                "type": "EntityType",
                "typeName": t,
                "attributeNames": list(ATTRIBUTES[t]),
            }
            for t in served
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:EntityTypeList:{state.epoch}",
            "type": "EntityTypeList",
            "typeList": served,
        }
    return _plain(request, body)


async def attributes(request: web.Request) -> web.StreamResponse:
    """GET /ngsi-ld/v1/attributes: the attributes the served types carry."""
    query = params.parse(TypesQuery, request.query)
    state = current_state(request)
    names = sorted({name for t in ENTITY_TYPES for name in ATTRIBUTES[t]})
    if query.details == "true":
        body: Any = [
            {
                "id": name,
                "type": "Attribute",
                "attributeName": name,
                "attributeTypes": sorted({kind for t in ENTITY_TYPES if (kind := ATTRIBUTES[t].get(name))}),
                "typeNames": [t for t in ENTITY_TYPES if name in ATTRIBUTES[t]],
            }
            for name in names
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:AttributeList:{state.epoch}",
            "type": "AttributeList",
            "attributeList": names,
        }
    return _plain(request, body)


def _plain(request: web.Request, body: Any) -> web.Response:
    media = negotiate(request.headers.get("Accept"), (JSON, LD_JSON))
    if media == LD_JSON:
        body = body | {"@context": list(CONTEXT)} if isinstance(body, dict) else body
    response = encoded_json_response(request, orjson.dumps(body), cache=LIVE_CACHE)
    response.content_type = media
    response.headers["Vary"] = "Accept"
    return response


def _refuse_unsupported(query: Mapping[str, str]) -> None:
    refused = sorted(UNSUPPORTED.intersection(query))
    if refused:
        raise ApiError(422, "not_supported", f"{refused[0]} is not supported by this server", refused[0])


def negotiate(accept: str | None, offered: tuple[str, ...] = MEDIA) -> str:
    """The offered media type the Accept header prefers; application/json when none is asked for, and
    on a tie (ahead of the others, in the order offered)."""
    if not accept:
        return JSON
    # Per candidate: the quality of the most specific media range that covers it.
    best = dict.fromkeys(offered, (-1, 0.0))
    for part in accept.split(","):
        media_range, *media_params = (p.strip() for p in part.split(";"))
        quality = _quality(media_params)
        for candidate, (specificity, _) in best.items():
            covers = _specificity(media_range.lower(), candidate)
            if covers > specificity:
                best[candidate] = (covers, quality)
    chosen = max(offered, key=lambda m: (best[m][1], m == JSON))
    if best[chosen][1] <= 0:
        raise ApiError(406, "not_acceptable", f"this server answers {' or '.join(offered)} only")
    return chosen


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
    shape: Shape,
    headers: Mapping[str, str],
) -> web.Response:
    """A list for a query, one entity for a retrieval; @context in the body or in the Link header;
    GeoJSON features when asked for."""
    many = body if isinstance(body, list) else [body]
    shaped = [shape.apply(e) for e in many]
    answer: Any
    if media == GEO_JSON:
        answer = feature_collection(many, shaped) if isinstance(body, list) else feature(body, shaped[0])
    elif media == LD_JSON:
        answer = [e | {"@context": list(CONTEXT)} for e in shaped]
    else:
        answer = shaped
    if media != GEO_JSON and not isinstance(body, list):
        answer = answer[0]
    response = encoded_json_response(request, orjson.dumps(answer), cache=LIVE_CACHE)
    response.content_type = media
    response.headers.update(headers)
    if media != LD_JSON:
        response.headers["Link"] = CONTEXT_LINK
    response.headers["Vary"] = "Accept"
    return response
