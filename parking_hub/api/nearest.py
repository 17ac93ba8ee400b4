"""GET /v1/nearest: nearest lots with room, or nearest free berths."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from parking_hub.api import params
from parking_hub.api.keys import current_state
from parking_hub.api.rendering import LIVE_CACHE, iso, json_response
from parking_hub.api.schemas import NearestParams
from parking_hub.query.availability import Availability
from parking_hub.query.live import now_ms
from parking_hub.query.nearest import NearestQuery, nearest_berths, nearest_lots

FREE_BERTHS_SHOWN = 10


def _lot_results(state: Availability, query: NearestQuery) -> list[dict[str, Any]]:
    free = state.free_counts(query.features)
    results = []
    for hit in nearest_lots(state, query):
        i = hit.position
        lot = state.index.lots[i]
        known, capacity = int(state.known_n[i]), lot.capacity
        results.append(
            {
                "lot_id": lot.id,
                "name": lot.name,
                "kind": lot.kind,
                "lat": lot.lat,
                "lon": lot.lon,
                "distance_m": round(hit.distance_m, 1),
                "free": int(free[i]),
                "occupied": known - int(state.free_n[()][i]),
                "unknown": capacity - known,
                "capacity": capacity,
                "free_berths": state.free_berths(i, query.features, FREE_BERTHS_SHOWN),
                "updated_at": iso(int(state.updated_ms[i])),
            }
        )
    return results


def _berth_results(state: Availability, query: NearestQuery) -> list[dict[str, Any]]:
    return [
        {
            "lot_id": state.index.lots[hit.position].id,
            "berth": hit.berth,
            "lat": hit.lat,
            "lon": hit.lon,
            "distance_m": round(hit.distance_m, 1),
            "updated_at": iso(int(state.updated_ms[hit.position])),
        }
        for hit in nearest_berths(state, query)
    ]


async def nearest(request: web.Request) -> web.Response:
    p = params.parse(NearestParams, request.query)
    state = current_state(request)
    query = NearestQuery(p.lat, p.lon, p.limit, p.radius_m, p.min_free, p.feature_names, p.kind)
    results = _berth_results(state, query) if p.level == "berth" else _lot_results(state, query)
    return json_response(request, {"as_of": iso(now_ms()), "results": results}, cache=LIVE_CACHE)
