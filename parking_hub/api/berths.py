"""GET /v1/lots/{id}/berths: every berth's state of one lot, compact enough for its largest lots."""

from __future__ import annotations

from aiohttp import web

from parking_hub.api import params
from parking_hub.api.errors import ApiError
from parking_hub.api.keys import current_state
from parking_hub.api.rendering import LIVE_CACHE, iso, json_response
from parking_hub.api.schemas import LotPath
from parking_hub.query.berths import berth_states


async def lot_berths(request: web.Request) -> web.Response:
    lot_id = params.parse(LotPath, request.match_info).lot_id
    state = current_state(request)
    position = state.index.position.get(lot_id)
    if position is None:
        raise ApiError(404, "not_found", f"no lot {lot_id!r} in the registry", "lot_id")
    counts = state.lot_counts(position)
    body = {
        "lot_id": lot_id,
        "capacity": int(state.index.capacity[position]),
        "free": counts.free,
        "occupied": counts.occupied,
        "unknown": counts.unknown,
        "online": state.online(position),
        "updated_at": iso(int(state.updated_ms[position])),
        "states": berth_states(state, position),
    }
    return json_response(request, body, cache=LIVE_CACHE, etag=True)
