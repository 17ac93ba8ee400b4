"""GET /v1/lots/{id}/history and /v1/lots/{id}/forecast (contract 7.3)."""

from __future__ import annotations

import math

import numpy as np
from aiohttp import web

from parking_hub.api import params
from parking_hub.api.app_state import live_key
from parking_hub.api.errors import ApiError, invalid
from parking_hub.api.lots import requested_lot
from parking_hub.api.rendering import LIVE_CACHE, iso, json_response
from parking_hub.api.schemas import (
    DEFAULT_HISTORY_S,
    MAX_HISTORY_POINTS,
    STEPS,
    ForecastParams,
    HistoryParams,
)
from parking_hub.query import forecast
from parking_hub.query.live import now_ms
from parking_hub.store import history
from parking_hub.store.connection import REDIS_ERRORS


async def _samples(request: web.Request, lot: str, capacity: int) -> dict[history.Ring, history.Samples]:
    try:
        return await history.read(request.app[live_key].redis, lot, capacity)
    except REDIS_ERRORS:
        raise ApiError(503, "unavailable", "redis is not reachable; retry in a few seconds") from None


def _tenth(values: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in values]


async def lot_history(request: web.Request) -> web.Response:
    p = params.parse(HistoryParams, request.query)
    state, position = requested_lot(request)
    step_s = STEPS[p.step]
    to_s = p.to.timestamp() if p.to is not None else now_ms() / 1000
    from_s = p.from_.timestamp() if p.from_ is not None else to_s - DEFAULT_HISTORY_S
    if from_s >= to_s:
        raise invalid("from", "from must be before to")
    first = math.floor(from_s / step_s)
    last = math.ceil(to_s / step_s) - 1  # the last step that starts before `to`
    if last - first + 1 > MAX_HISTORY_POINTS:
        raise invalid("to", f"from..to spans more than {MAX_HISTORY_POINTS} steps of {p.step}")
    lot = state.index.lots[position]
    ring = history.FINE if step_s < history.COARSE.step_s else history.COARSE
    samples = (await _samples(request, lot.id, lot.capacity))[ring]
    bucket = samples.at // step_s
    keep = (bucket >= first) & (bucket <= last)
    steps, which = np.unique(bucket[keep], return_inverse=True)
    n = np.bincount(which, minlength=len(steps))
    means = [np.bincount(which, v[keep], minlength=len(steps)) / n for v in (samples.free, samples.occupied)]
    free, occupied = (_tenth(m) for m in means)
    points = [
        {
            "at": iso(int(s) * step_s * 1000),
            "free": f,
            "occupied": o,
            "unknown": round(lot.capacity - f - o, 1),
        }
        for s, f, o in zip(steps.tolist(), free, occupied, strict=True)
    ]
    body = {"lot_id": lot.id, "step_s": step_s, "points": points}
    return json_response(request, body, cache=LIVE_CACHE)


async def lot_forecast(request: web.Request) -> web.Response:
    p = params.parse(ForecastParams, request.query)
    state, position = requested_lot(request)
    lot = state.index.lots[position]
    samples = (await _samples(request, lot.id, lot.capacity))[history.COARSE]
    now = now_ms()
    free_now = state.lot_counts(position).free
    minutes = np.array(p.minutes, dtype=np.float64)
    model = forecast.fit(samples)
    if model is None:
        ahead = forecast.persistence(lot.capacity, free_now, minutes)
    else:
        ahead = model.predict(now / 1000, free_now, minutes)
    rows = zip(p.minutes, _tenth(ahead.free), _tenth(ahead.low), _tenth(ahead.high), strict=True)
    body = {
        "lot_id": lot.id,
        "as_of": iso(now),
        "forecast": [
            {"at": iso(now + m * 60_000), "free": f, "low": lo, "high": hi} for m, f, lo, hi in rows
        ],
    }
    return json_response(request, body, cache=LIVE_CACHE)
