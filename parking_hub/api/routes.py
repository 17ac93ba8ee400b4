"""Every route, declared once: registered on the app and described in /openapi.json from the same entry."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from parking_hub.api import params
from parking_hub.api.access import access_key
from parking_hub.api.berths import lot_berths
from parking_hub.api.dashboard import dashboard, static_file
from parking_hub.api.datex import XML, parking_status, parking_table
from parking_hub.api.docs_page import docs, docs_key, render
from parking_hub.api.history import lot_forecast, lot_history
from parking_hub.api.interfaces import asyncapi_json, registry_schema_json
from parking_hub.api.lots import lot, lots, summary
from parking_hub.api.metrics import metrics
from parking_hub.api.nearest import nearest
from parking_hub.api.ngsi.handlers import attributes, entities, entity, query_entities, types
from parking_hub.api.ngsi.schemas import (
    MAX_IDS,
    MAX_LIMIT,
    EntitiesQuery,
    EntityList,
    EntityPath,
    EntityQuery,
    FeatureCollection,
    OneEntity,
    ParkingSite,
    ParkingSpot,
    ProblemDetails,
    QueryBody,
    TypesQuery,
)
from parking_hub.api.openapi import Answer, Endpoint, build_spec, openapi_json, spec_key
from parking_hub.api.parkapi import ParkApiSites, parking_sites
from parking_hub.api.probes import healthz, readyz
from parking_hub.api.schemas import (
    MAX_HISTORY_POINTS,
    MAX_STREAM_LOTS,
    ErrorBody,
    ForecastParams,
    HistoryParams,
    Liveness,
    LotBerths,
    LotCounts,
    LotDetail,
    LotForecast,
    LotHistory,
    LotPath,
    LotsPage,
    LotsParams,
    NearestAnswer,
    NearestParams,
    Readiness,
    StaticPath,
    StreamParams,
    Summary,
)
from parking_hub.api.stream import stream

BAD_PARAMETER = {
    400: Answer("a parameter is missing, malformed or out of range; `param` names it", ErrorBody)
}
NOT_LOADED = {
    503: Answer(
        "the lot index is not loaded yet, or Redis is unreachable (no answer rather than stale data); "
        "retry in a few seconds",
        ErrorBody,
    )
}
NOT_MODIFIED = {304: Answer("unchanged since the ETag sent in If-None-Match")}
OPEN = "Open: no API key needed, even where keys are on."

PROBES = (
    Endpoint(
        "/metrics",
        metrics,
        "Prometheus metrics of this process",
        "operations",
        {200: Answer("the Prometheus text exposition format", media_type="text/plain")},
    ),
    Endpoint(
        "/healthz",
        healthz,
        "Liveness: 200 while the process runs",
        "operations",
        {200: Answer("alive", Liveness)},
    ),
    Endpoint(
        "/readyz",
        readyz,
        "Readiness: 200 when Redis (and, in roles that ingest, MQTT) is connected",
        "operations",
        {200: Answer("ready", Readiness), 503: Answer("not ready, with the reasons", Readiness)},
    ),
)
DESCRIPTION = (
    Endpoint(
        "/openapi.json",
        openapi_json,
        "This description, OpenAPI 3.1",
        "documentation",
        {200: Answer("the OpenAPI document", media_type="application/json"), **NOT_MODIFIED},
    ),
    Endpoint(
        "/docs",
        docs,
        "This description as a web page",
        "documentation",
        {200: Answer("the page", media_type="text/html")},
    ),
    Endpoint(
        "/schemas/registry.json",
        registry_schema_json,
        "The lot registry format, as a JSON Schema (draft 2020-12)",
        "documentation",
        {200: Answer("the JSON Schema", media_type="application/json"), **NOT_MODIFIED},
        description=f"{OPEN} What `parking-hub lots load` takes; the loader also checks what a schema "
        "can not (berth numbers below capacity, unique lot ids and devices).",
    ),
    Endpoint(
        "/asyncapi.json",
        asyncapi_json,
        "The MQTT interface, as an AsyncAPI 3.0 document",
        "documentation",
        {200: Answer("the AsyncAPI document", media_type="application/json"), **NOT_MODIFIED},
        description=f"{OPEN} Every topic the hub reads and writes, with payload schemas and examples.",
    ),
)
API = (
    Endpoint(
        "/v1/nearest",
        nearest,
        "Nearest lots with room, or nearest free berths",
        "availability",
        {
            200: Answer("nearest first; ties by lot id, then berth number", NearestAnswer),
            **BAD_PARAMETER,
            **NOT_LOADED,
        },
        description=(
            "level=lot: every lot within radius_m with at least min_free matching free berths, sorted by "
            "great-circle distance then lot id, cut at limit. level=berth: individual free berths, at "
            "their own coordinates where the registry lists them, else at the lot's point."
        ),
        query=NearestParams,
    ),
    Endpoint(
        "/v1/lots/{lot_id}",
        lot,
        "One lot: its registry fields and live counts",
        "availability",
        {
            200: Answer("free + occupied + unknown = capacity", LotDetail),
            **NOT_MODIFIED,
            **BAD_PARAMETER,
            404: Answer("no such lot", ErrorBody),
            **NOT_LOADED,
        },
        path_params=LotPath,
    ),
    Endpoint(
        "/v1/lots/{lot_id}/berths",
        lot_berths,
        "One lot's berths, each free, occupied or unknown",
        "availability",
        {
            200: Answer("one letter per berth; the letters' counts are the lot's counts", LotBerths),
            **NOT_MODIFIED,
            **BAD_PARAMETER,
            404: Answer("no such lot", ErrorBody),
            **NOT_LOADED,
        },
        description="An extension for maps and lot displays: the same rules as the lot's counts, per berth.",
        path_params=LotPath,
    ),
    Endpoint(
        "/v1/lots/{lot_id}/history",
        lot_history,
        "One lot's mean counts per step, in event time",
        "history and forecasts",
        {
            200: Answer("oldest step first", LotHistory),
            **BAD_PARAMETER,
            404: Answer("no such lot", ErrorBody),
            **NOT_LOADED,
        },
        description=(
            "History is kept by the reports' own `ts`, so a replay of past traffic builds it. Counts are "
            "sampled every 5 minutes of event time: 5-minute samples for the last 24 h of the lot's "
            "history, 15-minute samples for 8 weeks. Each point is the mean of the samples inside its "
            "step (steps start at multiples of the step since the epoch; steps without samples are left "
            f"out). Default: the 24 h before `to`, which defaults to now; at most {MAX_HISTORY_POINTS} "
            "steps."
        ),
        query=HistoryParams,
        path_params=LotPath,
    ),
    Endpoint(
        "/v1/lots/{lot_id}/forecast",
        lot_forecast,
        "One lot's expected free berths ahead, with an 80% interval",
        "history and forecasts",
        {
            200: Answer("one point per horizon", LotForecast),
            **BAD_PARAMETER,
            404: Answer("no such lot", ErrorBody),
            **NOT_LOADED,
        },
        description=(
            "From the lot's own 15-minute history (its profile by weekday and time of day) and its free "
            "berths now: the profile ahead plus the present departure from it, carried forward as the "
            "lot's history says; the 80% interval from that rule's own errors on the history. Until the "
            "history allows a fit (a few days), the forecast is the present count, interval 0..capacity."
        ),
        query=ForecastParams,
        path_params=LotPath,
    ),
    Endpoint(
        "/v1/lots",
        lots,
        "Lots inside a box, with their counts, in lot id order",
        "availability",
        {200: Answer("one page of lots", LotsPage), **BAD_PARAMETER, **NOT_LOADED},
        description="Page through a box with `after`: each page's next_after is the next page's cursor.",
        query=LotsParams,
    ),
    Endpoint(
        "/v1/summary",
        summary,
        "City-wide counts and event totals",
        "availability",
        {200: Answer("the whole city", Summary), **NOT_LOADED},
    ),
    Endpoint(
        "/v1/stream",
        stream,
        "Server-Sent Events: each lot's counts whenever they change",
        "availability",
        {
            200: Answer(
                "text/event-stream of `availability` events whose data is a LotCounts object",
                LotCounts,
                media_type="text/event-stream",
            ),
            **BAD_PARAMETER,
            404: Answer("a lot named in `lots` is not in the registry", ErrorBody),
            429: Answer("this server, or this client, is at its stream limit; see Retry-After", ErrorBody),
            **NOT_LOADED,
        },
        description=(
            f"Give bbox or lots (at most {MAX_STREAM_LOTS} lots). The stream opens with every lot's counts, "
            "then sends a lot again whenever its counts change, at most four batches a second. Each event's "
            "id resumes the stream: reconnect with Last-Event-ID to get only what changed since. A ': "
            "keep-alive' comment comes every 15 s; a client that stops reading is disconnected."
        ),
        query=StreamParams,
    ),
)

DASHBOARD = (
    Endpoint(
        "/",
        dashboard,
        "The live dashboard: the city's lots on a map, coloured by availability",
        "dashboard",
        {200: Answer("the page; it reads /v1 from the browser", media_type="text/html"), **NOT_MODIFIED},
    ),
    Endpoint(
        "/static/{name}",
        static_file,
        "The dashboard's scripts, style sheet and map data",
        "dashboard",
        {
            200: Answer("the file, as text/javascript, text/css or application/json", media_type="*/*"),
            **NOT_MODIFIED,
            **BAD_PARAMETER,
            404: Answer("no such file", ErrorBody),
        },
        path_params=StaticPath,
    ),
)

NGSI_ERRORS = {
    400: Answer("BadRequestData: a parameter is missing, malformed or out of range", ProblemDetails),
    403: Answer("TooComplexQuery: idPattern, q or attrs would do more work than a query may", ProblemDetails),
    406: Answer(
        "the Accept header allows none of application/json, application/ld+json, application/geo+json",
        ProblemDetails,
    ),
    414: Answer(
        "the request line is over 8192 bytes: send long filters in a POST /ngsi-ld/v1/entityOperations/query",
        ProblemDetails,
    ),
    422: Answer("OperationNotSupported: an NGSI-LD parameter this server does not implement", ProblemDetails),
    503: Answer("the lot index is not loaded yet; retry in a few seconds", ProblemDetails),
}
ENTITIES_DESCRIPTION = (
    "OffStreetParking and OnStreetParking (one per lot) and ParkingSpot (one per berth), from the "
    "same live state as /v1. Entities come in a fixed order: by type in that order, lots by id, "
    "spots by berth; page with offset and limit (default 20, at most "
    f"{MAX_LIMIT}). Filters: type, id (at most {MAX_IDS}), idPattern (RE2), attrs, q (NGSI-LD query "
    "language), and a geo-query (georel, geometry, coordinates) on location; docs/api.md lists what each "
    "takes. With Accept: application/ld+json each entity carries its @context; application/geo+json "
    "answers a FeatureCollection; otherwise application/json with the context in a Link header. "
    "count=true adds the NGSILD-Results-Count header."
)
ENTITY_LIST = {
    200: Answer("one page of entities, normalized unless options or format say otherwise", EntityList),
    **NGSI_ERRORS,
}
NGSI_LD = (
    Endpoint(
        "/ngsi-ld/v1/entities",
        entities,
        "NGSI-LD query: lots and berths as FIWARE Smart Data Models entities",
        "open data",
        ENTITY_LIST,
        description=ENTITIES_DESCRIPTION,
        query=EntitiesQuery,
        schemas=(ParkingSite, ParkingSpot, FeatureCollection),
    ),
    Endpoint(
        "/ngsi-ld/v1/entities/",
        entities,
        "NGSI-LD query, as clients that end the path with a slash ask for it",
        "open data",
        ENTITY_LIST,
        description="The same as /ngsi-ld/v1/entities.",
        query=EntitiesQuery,
        name="entities_slash",
    ),
    Endpoint(
        "/ngsi-ld/v1/entityOperations/query",
        query_entities,
        "NGSI-LD query by POST: the filters in a Query body",
        "open data",
        {**ENTITY_LIST, 413: Answer("the body is larger than 256 KiB", ProblemDetails)},
        description="The filters of GET /ngsi-ld/v1/entities as NGSI-LD's Query data type (one entity "
        "selector at most); limit, offset, count, options and format stay in the query string.",
        query=EntitiesQuery,
        method="post",
        body=QueryBody,
    ),
    Endpoint(
        "/ngsi-ld/v1/entities/{entity_id}",
        entity,
        "NGSI-LD retrieval: one entity by id",
        "open data",
        {
            200: Answer("the entity, as in the query answer", OneEntity),
            **NGSI_ERRORS,
            404: Answer("ResourceNotFound: no such entity", ProblemDetails),
        },
        query=EntityQuery,
        path_params=EntityPath,
    ),
    Endpoint(
        "/ngsi-ld/v1/types",
        types,
        "NGSI-LD entity types served",
        "open data",
        {200: Answer("EntityTypeList, or with details=true a list of EntityType"), **NGSI_ERRORS},
        query=TypesQuery,
    ),
    Endpoint(
        "/ngsi-ld/v1/attributes",
        attributes,
        "NGSI-LD attributes served",
        "open data",
        {200: Answer("AttributeList, or with details=true a list of Attribute"), **NGSI_ERRORS},
        query=TypesQuery,
    ),
)


FEEDS = (
    Endpoint(
        "/parkapi/v3/parking-sites",
        parking_sites,
        "ParkAPI v3: every lot as a ParkingSite with its realtime fields",
        "open data",
        {200: Answer("every lot, in lot-id order", ParkApiSites), **NOT_LOADED},
        description="Valid against ParkAPI's published parking-site JSON Schema; docs/api.md maps "
        "each field. Every lot in one answer, without paging.",
    ),
    Endpoint(
        "/datex2/v3/parking-table",
        parking_table,
        "DATEX II v3: every lot as a Place of one ParkingTablePublication",
        "open data",
        {200: Answer("a d2:payload of type prk:ParkingTablePublication", media_type=XML), **NOT_LOADED},
        description="The static table: each lot's name, point, capacity and the facts DATEX has "
        "elements for (docs/api.md maps them). Its version is the registry's load time; "
        "/datex2/v3/parking-status refers to it.",
    ),
    Endpoint(
        "/datex2/v3/parking-status",
        parking_status,
        "DATEX II v3: every lot's live counts as one ParkingStatusPublication",
        "open data",
        {200: Answer("a d2:payload of type prk:ParkingStatusPublication", media_type=XML), **NOT_LOADED},
        description="Per lot: vacant and occupied berths as /v1 counts them, open or closed now, the "
        "newest report's time, a communicationsFailure fault while the lot is offline and a "
        "noParkingInformationAvailable fault while none of its berths is known.",
    ),
)


def _checking_parameters(endpoint: Endpoint) -> Endpoint:
    """An endpoint without a query model takes no parameters: it refuses any, as its description says."""
    if endpoint.query is not None:
        return endpoint
    return replace(
        endpoint,
        handler=params.refusing_parameters(endpoint.handler),
        answers={**endpoint.answers, **BAD_PARAMETER},
    )


def setup_routes(app: web.Application, *, serve_api: bool) -> None:
    """Every role answers the probes; only roles that keep the availability mirror answer /v1."""
    access = app[access_key]
    served = PROBES + DESCRIPTION + (API + NGSI_LD + FEEDS + DASHBOARD if serve_api else ())
    endpoints = access.describe(tuple(map(_checking_parameters, served)))
    for endpoint in endpoints:
        if endpoint.method == "get":
            app.router.add_get(endpoint.path, endpoint.handler)
        else:
            app.router.add_route(endpoint.method.upper(), endpoint.path, endpoint.handler)
    app[spec_key] = build_spec(endpoints)
    access.add_security_schemes(app[spec_key])
    app[docs_key] = render(app[spec_key]).encode()
