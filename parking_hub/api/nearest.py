"""GET /v1/nearest: nearest lots with room, or nearest free berths."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from parking_hub.api import params
from parking_hub.api.keys import current_state
from parking_hub.api.rendering import LIVE_CACHE, encoded_json_response, iso, now_iso
from parking_hub.api.schemas import NearestParams
from parking_hub.query.availability import Availability
from parking_hub.query.nearest import NearestQuery, nearest_berths, nearest_lots

FREE_BERTHS_SHOWN = 10


class LotRows:
    """Each lot's result, JSON-encoded but for its distance, kept until the mirror next recounts
    the lot: lots change far less often than they are asked for, and encoding a row costs more
    than splicing a number into it."""

    def __init__(self) -> None:
        self._state: Availability | None = None
        self._rows: dict[tuple[int, tuple[str, ...]], tuple[int, bytes, bytes]] = {}

    def encoded(self, state: Availability, i: int, features: tuple[str, ...], distance_m: float) -> bytes:
        if state is not self._state:
            self._state, self._rows = state, {}
        recount = int(state.recounted_in[i])
        cached = self._rows.get((i, features))
        if cached is None or cached[0] != recount:
            cached = (recount, *self._halves(state, i, features))
            self._rows[i, features] = cached
        # "%.1f" rounds as round(x, 1) does and prints what orjson would print for the result.
        return b"%s%.1f%s" % (cached[1], distance_m, cached[2])

    @staticmethod
    def _halves(state: Availability, i: int, features: tuple[str, ...]) -> tuple[bytes, bytes]:
        lot = state.index.lots[i]
        whole_lot = state.lot_counts(i)
        place = {"lot_id": lot.id, "name": lot.name, "kind": lot.kind, "lat": lot.lat, "lon": lot.lon}
        counts = {
            "free": int(state.free_counts(features)[i]),
            "occupied": whole_lot.occupied,
            "unknown": whole_lot.unknown,
            "capacity": lot.capacity,
            "free_berths": state.free_berths(i, features, FREE_BERTHS_SHOWN),
            "updated_at": iso(int(state.updated_ms[i])),
        }
        return orjson.dumps(place)[:-1] + b',"distance_m":', b"," + orjson.dumps(counts)[1:]


lot_rows_key = web.AppKey("lot_rows", LotRows)


def _lot_results(rows: LotRows, state: Availability, query: NearestQuery) -> bytes:
    hits = nearest_lots(state, query)
    return b",".join(rows.encoded(state, hit.position, query.features, hit.distance_m) for hit in hits)


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
    if p.level == "berth":
        results = orjson.dumps(_berth_results(state, query))[1:-1]
    else:
        results = _lot_results(request.app[lot_rows_key], state, query)
    body = b'{"as_of":"%s","results":[%s]}' % (now_iso().encode(), results)
    return encoded_json_response(request, body, cache=LIVE_CACHE)
