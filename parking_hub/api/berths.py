"""GET /v1/lots/{id}/berths: every berth's state of one lot, compact enough for its largest lots."""

from __future__ import annotations

from aiohttp import web

from parking_hub.api.lots import requested_lot
from parking_hub.api.rendering import LIVE_CACHE, iso, json_response
from parking_hub.query.berths import berth_states


async def lot_berths(request: web.Request) -> web.Response:
    state, position = requested_lot(request)
    counts = state.lot_counts(position)
    body = {
        "lot_id": state.index.lots[position].id,
        "capacity": int(state.index.layout.capacity[position]),
        "free": counts.free,
        "occupied": counts.occupied,
        "unknown": counts.unknown,
        "online": state.online(position),
        "updated_at": iso(int(state.updated_ms[position])),
        "open_now": bool(state.open_now[position]),
        "states": berth_states(state, position),
    }
    return json_response(request, body, cache=LIVE_CACHE, etag=True)
