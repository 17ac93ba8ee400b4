"""GET /parkapi/v3/parking-sites: each lot as a ParkAPI v3 ParkingSite with its realtime fields,
for the apps and aggregators that read ParkAPI (the fields of its published parking-site schema),
and the lot facts of contract 7.1 where ParkAPI has a field for them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from parking_hub.api.app_state import current_state, live_key
from parking_hub.api.publications import LiveCounts, publications_key
from parking_hub.api.rendering import LIVE_CACHE, encoded_json_response, iso
from parking_hub.lot_facts import Facts
from parking_hub.query.live import now_ms
from parking_hub.registry import Lot

# ParkAPI's site types: the registry tells on-street from off-street only, not a garage from a ground.
SITE_TYPE = {"on_street": "ON_STREET", "off_street": "OFF_STREET_PARKING_GROUND"}
SOURCE_ID = 1  # this hub is the one source of its sites
# Registry features and ParkAPI's capacity suffixes.
CAPACITY_KINDS = {
    "ev": "charging",
    "accessible": "disabled",
    "family": "family",
    "carsharing": "carsharing",
    "truck": "truck",
    "bus": "bus",
}
MAX_OPENING_HOURS = 512  # the schema's maxLength; a longer expression is left out rather than cut
ALWAYS_OPEN = "24/7"  # contract 7.1: a lot without opening_hours is always open


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
    capacity_family: int | None = Field(None, description="berths with the family feature")
    realtime_capacity_family: int | None = None
    realtime_free_capacity_family: int | None = None
    capacity_carsharing: int | None = Field(None, description="berths with the carsharing feature")
    realtime_capacity_carsharing: int | None = None
    realtime_free_capacity_carsharing: int | None = None
    capacity_truck: int | None = Field(None, description="berths for trucks only")
    realtime_capacity_truck: int | None = None
    realtime_free_capacity_truck: int | None = None
    capacity_bus: int | None = Field(None, description="berths for buses only")
    realtime_capacity_bus: int | None = None
    realtime_free_capacity_bus: int | None = None
    opening_hours: str | None = Field(
        None, description="OpenStreetMap opening_hours; 24/7 for a lot the registry gives no hours"
    )
    max_stay: int | None = Field(None, description="the longest stay allowed, in seconds")
    address: str | None = None
    public_url: str | None = None
    has_fee: bool | None = Field(None, description="false when the registry's fee is free of charge")
    fee_description: str | None = Field(None, description="the fee's text")


class ParkApiSites(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ParkApiSite]
    total_count: int


def _coordinate(degrees: float) -> str:
    """As the schema writes one: a decimal string of at most 7 fraction digits."""
    return f"{degrees:.7f}"


def parking_site(lot: Lot, i: int, live: LiveCounts, static_updated_at: str | None) -> dict[str, Any]:
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
        "realtime_free_capacity": live.free[i],
    }
    if updated := iso(live.updated_ms[i]):
        site["realtime_data_updated_at"] = updated
    site |= facts(lot.facts)
    for feature, kind in CAPACITY_KINDS.items():
        berths = lot.features.get(feature)
        if berths:
            site[f"capacity_{kind}"] = len(berths)
            site[f"realtime_capacity_{kind}"] = len(berths)
            site[f"realtime_free_capacity_{kind}"] = live.free_by_feature[feature][i]
    return site


def parking_sites_json(lots: Sequence[Lot], live: LiveCounts, static_updated_at: str | None) -> bytes:
    items = [parking_site(lot, i, live, static_updated_at) for i, lot in enumerate(lots)]
    return orjson.dumps({"items": items, "total_count": len(items)})


def facts(lot_facts: Facts) -> dict[str, Any]:
    """The facts of contract 7.1 that ParkAPI has fields for, leaving out what the registry does not say."""
    hours = lot_facts.opening_hours or ALWAYS_OPEN
    fee = lot_facts.fee
    has_fee = None if fee is None or fee.per_hour is None else bool(fee.per_hour > 0 or fee.max_per_day)
    found = {
        "opening_hours": hours if len(hours) <= MAX_OPENING_HOURS else None,
        "max_stay": None if lot_facts.max_stay_min is None else lot_facts.max_stay_min * 60,
        "address": lot_facts.address,
        "public_url": lot_facts.url,
        "has_fee": has_fee,
        "fee_description": None if fee is None else fee.text,
    }
    return {name: value for name, value in found.items() if value is not None}


async def parking_sites(request: web.Request) -> web.Response:
    """Built in a thread at most once a second (api/publications.py): at 50,000 lots a build takes
    seconds, which the event loop must not hold."""
    state = current_state(request)
    loaded = iso(request.app[live_key].registry_loaded_ms)

    def prepare() -> Callable[[], bytes]:
        lots, live = state.index.lots, LiveCounts.of(state, tuple(CAPACITY_KINDS))
        return lambda: parking_sites_json(lots, live, loaded)

    key = now_ms() // 1000
    body = await request.app[publications_key].get("parkapi", state.index, key, prepare)
    return encoded_json_response(request, body, cache=LIVE_CACHE)
