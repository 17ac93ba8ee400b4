"""GET /v1/lots/{id}, /v1/lots?bbox= and /v1/summary."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from parking_hub.api import params
from parking_hub.api.app_state import current_state, live_key
from parking_hub.api.errors import ApiError
from parking_hub.api.rendering import LIVE_CACHE, iso, json_response, now_iso
from parking_hub.api.schemas import LotPath, LotsParams
from parking_hub.arrays import IntArray
from parking_hub.query.area import lots_in_box
from parking_hub.query.availability import Availability
from parking_hub.query.live import now_ms
from parking_hub.registry import FEATURES, Lot


def fee(lot: Lot) -> dict[str, Any] | None:
    return None if lot.facts.fee is None else lot.facts.fee.as_dict()


def closes_at(state: Availability, i: int, t_ms: int) -> str | None:
    ms = state.hours.closes_at(i, t_ms)
    return None if ms is None else iso(ms)


def lot_counts(state: Availability, positions: IntArray) -> list[dict[str, Any]]:
    """Lots' live counts: /v1/lots items without their place, and the data of stream events."""
    online = state.online_mask(positions).tolist()
    open_now = state.open_now[positions].tolist()
    updated = state.updated_ms[positions].tolist()
    rows = []
    for k, i in enumerate(positions.tolist()):
        counts = state.lot_counts(i)
        rows.append(
            {
                "lot_id": state.index.lots[i].id,
                "free": counts.free,
                "occupied": counts.occupied,
                "unknown": counts.unknown,
                "capacity": state.index.lots[i].capacity,
                "online": online[k],
                "updated_at": iso(updated[k]),
                "open_now": open_now[k],
            }
        )
    return rows


def requested_lot(request: web.Request) -> tuple[Availability, int]:
    """The live state and the position of the lot the path names; 404 for a lot not in the registry."""
    lot_id = params.parse(LotPath, request.match_info).lot_id
    state = current_state(request)
    position = state.index.layout.position.get(lot_id)
    if position is None:
        raise ApiError(404, "not_found", f"no lot {lot_id!r} in the registry", "lot_id")
    return state, position


async def lot(request: web.Request) -> web.Response:
    state, position = requested_lot(request)
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
        "gaps_24h": state.gaps_24h(position, now_ms()),
        "open_now": bool(state.open_now[position]),
        "closes_at": closes_at(state, position, now_ms()),
    }
    return json_response(request, body, cache=LIVE_CACHE, etag=True)


async def lots(request: web.Request) -> web.Response:
    p = params.parse(LotsParams, request.query)
    state = current_state(request)
    after = -1
    if p.after is not None:
        # The cursor need not name a lot that still exists: start after where it would sort.
        after = state.index.ids_up_to(p.after) - 1
    found = lots_in_box(state.index, p.box, after)
    page = found[: p.limit]
    items = lot_counts(state, page)
    for item, i in zip(items, page.tolist(), strict=True):
        record = state.index.lots[i]
        item |= {"name": record.name, "kind": record.kind, "lat": record.lat, "lon": record.lon}
        item["fee"] = fee(record)
    more = len(found) > p.limit
    body = {"as_of": now_iso(), "lots": items, "next_after": items[-1]["lot_id"] if more else None}
    return json_response(request, body, cache=LIVE_CACHE)


async def summary(request: web.Request) -> web.Response:
    state = current_state(request)
    city = state.city_counts()
    ingest = request.app[live_key].ingest
    body = {
        "lots": len(state.index.lots),
        "berths": state.index.layout.berth_count,
        "free": city.free,
        "occupied": city.occupied,
        "unknown": city.unknown,
        "events_applied": int(state.applied.sum()),
        "events_rejected": int(state.rejected.sum()) + state.rejected_unattributed,
        "last_event_at": iso(int(state.updated_ms.max(initial=0))),
        "ingest_lag_s": ingest.lag_s,
        "ingest_processes": ingest.processes,
        "as_of": now_iso(),
    }
    return json_response(request, body, cache=LIVE_CACHE)
