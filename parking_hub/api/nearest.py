"""GET /v1/nearest: nearest lots with room, or nearest free berths."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from parking_hub.api import params
from parking_hub.api.app_state import current_state
from parking_hub.api.errors import invalid
from parking_hub.api.lots import fee
from parking_hub.api.rendering import LIVE_CACHE, encoded_json_response, iso, now_iso
from parking_hub.api.schemas import NearestParams
from parking_hub.query.arrival import at_arrival
from parking_hub.query.availability import Availability
from parking_hub.query.hours import AT_AFTER_MS, AT_BEFORE_MS
from parking_hub.query.live import now_ms
from parking_hub.query.nearest import NearestQuery, nearest_berths, nearest_lots

FREE_BERTHS_SHOWN = 10


class LotRows:
    """Each lot's result, JSON-encoded but for its distance, kept until a recount changes what it
    shows: lots change far less often than they are asked for, and encoding a row costs more than
    splicing a few values into it. The opening state (open now, when it closes after the arrival
    time) is kept apart, for as long as the arrival time stays between the same two of the lot's
    opening changes and the mirror's opening times and open-now states are the same."""

    def __init__(self) -> None:
        self._state: Availability | None = None
        self._rows: dict[tuple[int, tuple[str, ...]], tuple[int, bytes, bytes]] = {}
        self._opening: dict[int, tuple[object, object, int, int, bytes]] = {}

    def encoded(
        self,
        state: Availability,
        i: int,
        names: tuple[str, ...],
        distance_m: float,
        arrival_ms: int,
        *,
        forecast: tuple[float, float] | None = None,
    ) -> bytes:
        if state is not self._state:
            self._state, self._rows, self._opening = state, {}, {}
        recount = int(state.shown_changed_in[i])
        cached = self._rows.get((i, names))
        if cached is None or cached[0] != recount:
            cached = (recount, *self._halves(state, i, names))
            self._rows[i, names] = cached
        opening = self._opening.get(i)
        if (
            opening is None
            or opening[0] is not state.hours  # rebuilt
            or opening[1] is not state.open_now  # some lot opened or closed
            or not opening[2] <= arrival_ms < opening[3]
        ):
            opening = self._opening_of(state, i, arrival_ms)
            self._opening[i] = opening
        tail = b"}"
        if forecast is not None:
            tail = b"," + orjson.dumps({"forecast_free": forecast[0], "p_free": forecast[1]})[1:]
        # "%.1f" rounds as round(x, 1) does and prints what orjson would print for the result.
        return b"%s%.1f%s,%s%s" % (cached[1], distance_m, cached[2], opening[4], tail)

    @staticmethod
    def _opening_of(state: Availability, i: int, arrival_ms: int) -> tuple[object, object, int, int, bytes]:
        closes_ms, start, end = state.hours.closing(i, arrival_ms)
        closes = None if closes_ms is None else iso(closes_ms)
        opening = {"open_now": bool(state.open_now[i]), "closes_at": closes}
        return state.hours, state.open_now, start, end, orjson.dumps(opening)[1:-1]

    @staticmethod
    def _halves(state: Availability, i: int, names: tuple[str, ...]) -> tuple[bytes, bytes]:
        lot = state.index.lots[i]
        whole_lot = state.lot_counts(i)
        place = {"lot_id": lot.id, "name": lot.name, "kind": lot.kind, "lat": lot.lat, "lon": lot.lon}
        counts = {
            "free": int(state.free_counts(names)[i]),
            "occupied": whole_lot.occupied,
            "unknown": whole_lot.unknown,
            "capacity": lot.capacity,
            "free_berths": state.free_berths(i, names, FREE_BERTHS_SHOWN),
            "updated_at": iso(int(state.updated_ms[i])),
            "fee": fee(lot),
        }
        return orjson.dumps(place)[:-1] + b',"distance_m":', b"," + orjson.dumps(counts)[1:-1]


lot_rows_key = web.AppKey("lot_rows", LotRows)


def _lot_results(rows: LotRows, state: Availability, query: NearestQuery, arrival_ms: int) -> bytes:
    hits = nearest_lots(state, query)
    names = query.berth_names
    forecasts: list[tuple[float, float] | None] = [None] * len(hits)
    if query.forecast_ms is not None and hits:
        positions = np.array([hit.position for hit in hits], dtype=np.int64)
        free_now = state.free_counts(names)[positions]
        expected, p_free = at_arrival(state, positions, free_now, query.forecast_ms, query.min_free)
        # Rounded as the search compared them (query/nearest.py).
        forecasts = list(zip(np.round(expected, 1).tolist(), np.round(p_free, 2).tolist(), strict=True))
    return b",".join(
        rows.encoded(state, hit.position, names, hit.distance_m, arrival_ms, forecast=forecast)
        for hit, forecast in zip(hits, forecasts, strict=True)
    )


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


def _arrival_ms(p: NearestParams, now: int) -> int:
    at_ms = now if p.at is None else math.floor(p.at.timestamp() * 1000)
    if not now - AT_BEFORE_MS <= at_ms <= now + AT_AFTER_MS:
        raise invalid("at", "at must be from 1 day before to 7 days after now")
    return at_ms + 1000 * (p.eta_s or 0)


async def nearest(request: web.Request) -> web.Response:
    p = params.parse(NearestParams, request.query)
    state = current_state(request)
    arrival_ms = _arrival_ms(p, now_ms())
    query = NearestQuery(
        p.lat,
        p.lon,
        p.limit,
        p.radius_m,
        p.min_free,
        p.feature_names,
        p.kind,
        p.vehicle,
        p.height_m,
        p.access_values,
        math.inf if p.max_per_hour is None else p.max_per_hour,
        None if p.include_closed else arrival_ms,
        None if p.eta_s is None else arrival_ms,
    )
    if p.level == "berth":
        results = orjson.dumps(_berth_results(state, query))[1:-1]
    else:
        results = _lot_results(request.app[lot_rows_key], state, query, arrival_ms)
    body = b'{"as_of":"%s","results":[%s]}' % (now_iso().encode(), results)
    return encoded_json_response(request, body, cache=LIVE_CACHE)
