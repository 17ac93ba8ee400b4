"""GET /parkapi/v3/parking-sites: each lot as a ParkAPI v3 ParkingSite with its realtime fields,
for the apps and aggregators that read ParkAPI (the fields of its published parking-site schema)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from parking_hub.api.app_state import current_state, live_key
from parking_hub.api.rendering import LIVE_CACHE, iso, json_response
from parking_hub.query.availability import Availability

# ParkAPI's site types: the registry tells on-street from off-street only, not a garage from a ground.
SITE_TYPE = {"on_street": "ON_STREET", "off_street": "OFF_STREET_PARKING_GROUND"}
SOURCE_ID = 1  # this hub is the one source of its sites
# Registry features and ParkAPI's capacity suffixes.
CAPACITY_KINDS = {"ev": "charging", "accessible": "disabled"}


class ParkApiSite(BaseModel):
    """One lot as a ParkAPI v3 ParkingSite."""

    model_config = ConfigDict(extra="forbid")
    id: int = Field(description="the lot's position in lot-id order, from 1; changes when lots are added")
    source_id: int = Field(description="always 1: this hub")
    original_uid: str = Field(description="the registry's lot id")
    name: str
    operator_name: str
    type: str = Field(description="ON_STREET or OFF_STREET_PARKING_GROUND")
    lat: str = Field(description="WGS 84, a decimal string with 7 fraction digits")
    lon: str
    capacity: int
    has_realtime_data: bool
    static_data_updated_at: str | None = Field(description="when this process last loaded the registry")
    realtime_capacity: int
    realtime_free_capacity: int = Field(description="known, fresh, free berths, as /v1's free")
    realtime_data_updated_at: str | None = Field(None, description="the newest report behind the counts")
    capacity_charging: int | None = Field(None, description="berths with the ev feature")
    realtime_capacity_charging: int | None = None
    realtime_free_capacity_charging: int | None = None
    capacity_disabled: int | None = Field(None, description="berths with the accessible feature")
    realtime_capacity_disabled: int | None = None
    realtime_free_capacity_disabled: int | None = None


class ParkApiSites(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ParkApiSite]
    total_count: int


def _coordinate(degrees: float) -> str:
    """As the schema writes one: a decimal string of at most 7 fraction digits."""
    return f"{degrees:.7f}"


def parking_site(state: Availability, i: int, static_updated_at: str | None) -> dict[str, Any]:
    lot = state.index.lots[i]
    counts = state.lot_counts(i)
    site: dict[str, Any] = {
        "id": i + 1,
        "source_id": SOURCE_ID,
        "original_uid": lot.id,
        "name": lot.name,
        "operator_name": lot.operator,
        "type": SITE_TYPE[lot.kind],
        "lat": _coordinate(lot.lat),
        "lon": _coordinate(lot.lon),
        "capacity": lot.capacity,
        "has_realtime_data": True,
        "static_data_updated_at": static_updated_at,
        "realtime_capacity": lot.capacity,
        "realtime_free_capacity": counts.free,
    }
    if updated := iso(int(state.updated_ms[i])):
        site["realtime_data_updated_at"] = updated
    for feature, kind in CAPACITY_KINDS.items():
        berths = lot.features.get(feature)
        if berths:
            site[f"capacity_{kind}"] = len(berths)
            site[f"realtime_capacity_{kind}"] = len(berths)
            site[f"realtime_free_capacity_{kind}"] = state.lot_counts(i, (feature,)).free
    return site


async def parking_sites(request: web.Request) -> web.Response:
    state = current_state(request)
    loaded = iso(request.app[live_key].registry_loaded_ms)
    items = [parking_site(state, i, loaded) for i in range(len(state.index.lots))]
    return json_response(request, {"items": items, "total_count": len(items)}, cache=LIVE_CACHE)
