"""The /v1 endpoints and the health probes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from parking_hub.api import params
from parking_hub.api.errors import ApiError
from parking_hub.api.keys import health_key, live_key
from parking_hub.query.availability import Availability
from parking_hub.query.live import now_ms
from parking_hub.query.nearest import NearestQuery, nearest_lots
from parking_hub.registry import FEATURES, KINDS, MAX_LAT

FREE_BERTHS_SHOWN = 10
MAX_LIMIT = 50
MAX_RADIUS_M = 50_000


def iso(ms: int) -> str | None:
    if ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _state(request: web.Request) -> Availability:
    state = request.app[live_key].state
    if state is None:
        raise ApiError(503, "unavailable", "the lot index is not loaded yet; retry in a few seconds")
    return state


async def nearest(request: web.Request) -> web.Response:
    q = request.query
    query = NearestQuery(
        lat=params.number(q, "lat", -MAX_LAT, MAX_LAT),
        lon=params.number(q, "lon", -180, 180),
        limit=params.integer(q, "limit", 1, MAX_LIMIT, 5),
        radius_m=params.number(q, "radius_m", 1, MAX_RADIUS_M, 2000),
        min_free=params.integer(q, "min_free", 1, None, 1),
        features=params.name_list(q, "features", FEATURES),
        kind=params.choice(q, "kind", KINDS, None),
    )
    params.choice(q, "level", ("lot",), "lot")
    state = _state(request)
    as_of = now_ms()
    results = []
    for hit in nearest_lots(state, query):
        lot = state.index.lots[hit.position]
        counts = state.lot_counts(hit.position)
        results.append(
            {
                "lot_id": lot.id,
                "name": lot.name,
                "kind": lot.kind,
                "lat": lot.lat,
                "lon": lot.lon,
                "distance_m": round(hit.distance_m, 1),
                "free": int(state.free_counts(query.features)[hit.position]),
                "occupied": counts.occupied,
                "unknown": counts.unknown,
                "capacity": lot.capacity,
                "free_berths": state.free_berths(hit.position, query.features, FREE_BERTHS_SHOWN),
                "updated_at": iso(int(state.updated_ms[hit.position])),
            }
        )
    return json_response({"as_of": iso(as_of), "results": results})


async def lot(request: web.Request) -> web.Response:
    state = _state(request)
    lot_id = request.match_info["lot_id"]
    position = state.index.position.get(lot_id)
    if position is None:
        raise ApiError(404, "not_found", f"no lot {lot_id!r} in the registry", "lot_id")
    record = state.index.lots[position]
    props = record.to_feature()["properties"]
    counts = state.lot_counts(position)
    # The registry's berth lists and the live counts, per feature, side by side.
    features = {}
    for name in FEATURES:
        c = state.lot_counts(position, (name,))
        berths = props["features"].get(name, [])
        features[name] = {"free": c.free, "occupied": c.occupied, "unknown": c.unknown, "berths": berths}
    body = {
        **props,
        "lat": record.lat,
        "lon": record.lon,
        "free": counts.free,
        "occupied": counts.occupied,
        "unknown": counts.unknown,
        "updated_at": iso(int(state.updated_ms[position])),
        "online": state.online(position),
        "features": features,
        "events_applied": int(state.applied[position]),
        "events_rejected": int(state.rejected[position]),
    }
    return json_response(body)


async def summary(request: web.Request) -> web.Response:
    state = _state(request)
    city = state.city_counts()
    return json_response(
        {
            "lots": len(state.index.lots),
            "berths": state.index.berth_count,
            "free": city.free,
            "occupied": city.occupied,
            "unknown": city.unknown,
            "events_applied": int(state.applied.sum()),
            "events_rejected": int(state.rejected.sum()) + state.rejected_unattributed,
            "last_event_at": iso(int(state.updated_ms.max(initial=0))),
            "as_of": iso(now_ms()),
        }
    )


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    problems = request.app[health_key].problems()
    if problems:
        return json_response({"status": "not_ready", "reasons": problems}, status=503)
    return json_response({"status": "ready"})


def setup_routes(app: web.Application, *, serve_api: bool) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if serve_api:
        app.router.add_get("/v1/nearest", nearest)
        app.router.add_get("/v1/lots/{lot_id}", lot)
        app.router.add_get("/v1/summary", summary)
