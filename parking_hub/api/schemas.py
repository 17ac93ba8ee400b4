"""What each endpoint takes and answers, as pydantic models.

The query models validate every request (api/params.py); all models feed the OpenAPI description
(api/openapi.py), and the tests check real answers against the answer models, so the published
description cannot drift from what the server does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from parking_hub.lot_facts import ACCESS, MAX_HEIGHT_M, MAX_PRICE
from parking_hub.query.area import Box
from parking_hub.query.forecast import MAX_HORIZON_MIN
from parking_hub.registry import BERTH_FEATURES, MAX_CAPACITY, MAX_LAT

MAX_LIMIT = 50
MAX_RADIUS_M = 50_000
MAX_PAGE = 5000
MAX_STREAM_LOTS = 2000
_FEATURE = f"({'|'.join(BERTH_FEATURES)})"
FEATURE_LIST = rf"^{_FEATURE}(,{_FEATURE})*$"
_ACCESS = f"({'|'.join(ACCESS)})"
ACCESS_LIST = rf"^{_ACCESS}(,{_ACCESS})*$"
MAX_ETA_S = 14_400
LOT_ID = r"^[a-z0-9_-]{1,64}$"

Timestamp = Annotated[
    str | None, Field(description="ISO 8601 UTC, millisecond precision; null before any report")
]


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _bbox(text: str) -> Box:
    parts = text.split(",")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise ValueError("must be four numbers: minLon,minLat,maxLon,maxLat") from None
    if not all(-180 <= v <= 180 for v in (west, east)) or not all(-90 <= v <= 90 for v in (south, north)):
        raise ValueError("longitudes must be within -180..180 and latitudes within -90..90")
    if south > north:
        raise ValueError("minLat must not exceed maxLat")
    return Box(west, south, east, north)


class NoParams(_Query):
    """The query of an endpoint that takes no parameters: any one is refused."""


class NearestParams(_Query):
    lat: float = Field(ge=-MAX_LAT, le=MAX_LAT, description="latitude of the place, WGS 84 degrees")
    lon: float = Field(ge=-180, le=180, description="longitude of the place, WGS 84 degrees")
    limit: int = Field(5, ge=1, le=MAX_LIMIT, description="most results")
    radius_m: float = Field(2000, ge=1, le=MAX_RADIUS_M, description="search radius, metres")
    min_free: int = Field(1, ge=1, le=MAX_CAPACITY, description="least free berths a lot must have")
    features: str | None = Field(
        None,
        pattern=FEATURE_LIST,
        description=f"comma list of {', '.join(BERTH_FEATURES)}, each once: count only berths having all "
        "of them (vehicle classes: see vehicle)",
    )
    kind: Literal["off_street", "on_street"] | None = Field(None, description="only lots of this kind")
    level: Literal["lot", "berth"] = Field(
        "lot", description="lot: nearest lots with room; berth: nearest individual free berths"
    )
    vehicle: Literal["car", "motorcycle", "truck", "bus"] = Field(
        "car", description="count only this vehicle class's berths (car: berths under no vehicle class)"
    )
    height_m: float = Field(
        0, ge=0, le=MAX_HEIGHT_M, description="the vehicle's height, metres: skips lots with less clearance"
    )
    access: str = Field(
        "public",
        pattern=ACCESS_LIST,
        description=f"comma list of {', '.join(ACCESS)}: only lots open to one of these",
    )
    max_per_hour: float | None = Field(
        None, ge=0, le=MAX_PRICE, description="skips lots whose hourly fee is higher or unknown"
    )
    at: AwareDatetime | None = Field(
        None,
        description="ISO 8601 time with an offset, from 1 day before to 7 days after now; default now",
    )
    eta_s: int | None = Field(
        None,
        ge=0,
        le=MAX_ETA_S,
        description="seconds from `at` until the driver arrives; given, lots qualify on forecast_free >= "
        "min_free (the berths expected free at arrival) and results add forecast_free and p_free",
    )
    include_closed: bool = Field(False, description="also lots closed at arrival (at + eta_s)")

    @field_validator("features", "access")
    @classmethod
    def _each_name_once(cls, value: str | None, info: ValidationInfo) -> str | None:
        names = (value or "").split(",")
        if len(set(names)) < len(names):
            what = "a feature" if info.field_name == "features" else "a value"
            raise ValueError(f"names {what} twice")
        return value

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.features.split(","))) if self.features else ()

    @property
    def access_values(self) -> tuple[str, ...]:
        return tuple(sorted(self.access.split(",")))


class LotsParams(_Query):
    bbox: str = Field(
        description="minLon,minLat,maxLon,maxLat; a minLon greater than maxLon crosses the antimeridian",
        examples=["120.30,36.03,120.45,36.12"],
    )
    limit: int = Field(1000, ge=1, le=MAX_PAGE, description="most lots in one page")
    after: str | None = Field(
        None, pattern=LOT_ID, description="page cursor: list lots whose id sorts after this one (next_after)"
    )

    @field_validator("bbox")
    @classmethod
    def _check_bbox(cls, value: str) -> str:
        _bbox(value)
        return value

    @property
    def box(self) -> Box:
        return _bbox(self.bbox)


class StreamParams(_Query):
    bbox: str | None = Field(None, description="minLon,minLat,maxLon,maxLat: stream the lots inside")
    lots: str | None = Field(
        None,
        pattern=r"^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$",
        description=f"comma list of lot ids to stream (at most {MAX_STREAM_LOTS})",
    )

    @field_validator("bbox")
    @classmethod
    def _check_bbox(cls, value: str | None) -> str | None:
        if value is not None:
            _bbox(value)
        return value

    @property
    def box(self) -> Box | None:
        return None if self.bbox is None else _bbox(self.bbox)

    @property
    def lot_ids(self) -> list[str]:
        return [] if self.lots is None else sorted(set(self.lots.split(",")))


class LotPath(_Query):
    lot_id: str = Field(pattern=LOT_ID, description="the lot's registry id")


class StaticPath(_Query):
    name: str = Field(pattern=r"^[a-z0-9_-]{1,64}\.(js|css|json)$", description="a file of the dashboard")


STEPS = {"5m": 300, "15m": 900, "1h": 3600}
MAX_HISTORY_POINTS = 6000
DEFAULT_HISTORY_S = 86_400
HORIZONS = r"^[0-9]{1,3}(,[0-9]{1,3}){0,15}$"


class HistoryParams(_Query):
    from_: AwareDatetime | None = Field(
        None, alias="from", description="ISO 8601 time with offset; default 24 h before `to`"
    )
    to: AwareDatetime | None = Field(None, description="ISO 8601 time with offset; default now")
    step: Literal["5m", "15m", "1h"] = Field(
        "15m",
        description=(
            "5m (kept for the last 24 h of the lot's history), 15m or 1h (kept for 8 weeks); "
            f"at most {MAX_HISTORY_POINTS} steps between from and to"
        ),
    )


class ForecastParams(_Query):
    horizons: str = Field(
        "15,30,60",
        pattern=HORIZONS,
        description="comma list of minutes ahead, each 1..240, at most 16 of them",
        examples=["15,30,60"],
    )

    @field_validator("horizons")
    @classmethod
    def _each_in_range(cls, value: str) -> str:
        minutes = [int(m) for m in value.split(",")]
        if not all(1 <= m <= MAX_HORIZON_MIN for m in minutes):
            raise ValueError(f"each horizon must be between 1 and {MAX_HORIZON_MIN} minutes")
        if len(set(minutes)) < len(minutes):
            raise ValueError("names a horizon twice")
        return value

    @property
    def minutes(self) -> list[int]:
        return [int(m) for m in self.horizons.split(",")]


# -- answers -----------------------------------------------------------------------------------


class _Answer(BaseModel):
    # Forbidding extra fields lets the tests catch an answer field that the description lacks.
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Answer):
    code: str = Field(description="invalid_parameter, not_found, too_many_streams, unavailable, ...")
    message: str
    param: str | None = Field(None, description="the parameter at fault, when there is one")


class ErrorBody(_Answer):
    error: ErrorDetail


class LotResult(_Answer):
    lot_id: str
    name: str
    kind: Literal["off_street", "on_street"]
    lat: float
    lon: float
    distance_m: float = Field(description="great-circle distance, metres, one decimal")
    free: int = Field(description="known, fresh, free berths; with `features`, only berths having them")
    occupied: int = Field(description="whole-lot count")
    unknown: int = Field(description="whole-lot count: never reported, stale, or the lot offline")
    capacity: int
    free_berths: list[int] = Field(description="up to 10 of the free berths counted in `free`")
    updated_at: Timestamp
    fee: Fee | None = Field(description="the lot's fee as registered; null when unknown")
    open_now: bool = Field(description="open now by its opening_hours (always, without them)")
    closes_at: str | None = Field(
        description="when it next closes at or after arrival (at + eta_s); null when it stays open "
        "for the next 7 days"
    )
    forecast_free: float | None = Field(
        None,
        ge=0,
        description="only with eta_s: expected free berths at arrival, one decimal; the lot qualified on "
        "forecast_free >= min_free",
    )
    p_free: float | None = Field(
        None,
        ge=0,
        le=1,
        description="only with eta_s: probability that at least min_free berths are free at arrival, two "
        "decimals",
    )


class BerthResult(_Answer):
    lot_id: str
    berth: int
    lat: float = Field(description="the berth's own point where the registry lists bays, else the lot's")
    lon: float
    distance_m: float
    updated_at: Timestamp = Field(description="the lot's newest report")


class NearestAnswer(_Answer):
    as_of: str
    results: list[LotResult] | list[BerthResult] = Field(description="level=lot: lots; level=berth: berths")


class Fee(_Answer):
    currency: str | None = Field(None, description="ISO 4217")
    per_hour: float | None = Field(None, description="0: free of charge")
    free_minutes: int | None = None
    max_per_day: float | None = None
    text: str | None = None


class Counts(_Answer):
    free: int
    occupied: int
    unknown: int


class FeatureCounts(Counts):
    berths: list[int] = Field(description="the registry's berths with this feature")


class LotDetail(_Answer):
    id: str
    name: str
    operator: str
    kind: Literal["off_street", "on_street"]
    capacity: int
    heartbeat_s: int
    lat: float
    lon: float
    berths: list[tuple[float, float]] | None = Field(None, description="[lon, lat] per berth, when listed")
    codec: str | None = None
    devices: dict[str, dict[str, int | str]] | None = None
    features: dict[str, FeatureCounts]
    free: int
    occupied: int
    unknown: int
    updated_at: Timestamp
    online: bool
    events_applied: int
    events_rejected: int
    gaps_24h: int = Field(
        ge=0, description="skips in the lot's senders' seq or f_cnt, counted by the hour: each for 24 to 25 h"
    )
    timezone: str | None = Field(None, description="IANA name; absent: the hub's --timezone")
    opening_hours: str | None = Field(None, description="OpenStreetMap syntax; absent: always open")
    entrances: list[tuple[float, float]] | None = Field(None, description="[lon, lat] per entrance")
    max_height_m: float | None = None
    max_stay_min: int | None = None
    access: Literal["public", "customers", "residents", "permit"]
    fee: Fee | None = None
    address: str | None = None
    url: str | None = None
    phone: str | None = None
    open_now: bool
    closes_at: str | None = Field(description="when it next closes; null when it stays open for 7 days")


class LotCounts(_Answer):
    """A lot's live counts: the items of /v1/lots and the data of each stream event."""

    lot_id: str
    free: int
    occupied: int
    unknown: int
    capacity: int
    online: bool
    updated_at: Timestamp
    open_now: bool = Field(description="open now by its opening_hours (always, without them)")


class LotBerths(LotCounts):
    """Every berth of one lot, in berth order, one letter each."""

    states: str = Field(
        pattern="^[fou]*$",
        description=(
            "one letter per berth, berth 0 first: f free, o occupied, u unknown (never reported, "
            "silent for three heartbeat periods, or the lot offline); its length is the capacity"
        ),
    )


class HistoryPoint(_Answer):
    at: str = Field(description="the step's start, ISO 8601 UTC")
    free: float = Field(description="mean free berths over the step's samples")
    occupied: float
    unknown: float


class LotHistory(_Answer):
    lot_id: str
    step_s: int
    points: list[HistoryPoint] = Field(description="oldest first; a step without any sample is left out")


class ForecastPoint(_Answer):
    at: str = Field(description="the time forecast, ISO 8601 UTC")
    free: float = Field(description="expected free berths")
    low: float = Field(description="lower end of the 80% interval")
    high: float = Field(description="upper end of the 80% interval")


class LotForecast(_Answer):
    lot_id: str
    as_of: str
    forecast: list[ForecastPoint] = Field(description="one per horizon, in the order asked")


class LotListItem(LotCounts):
    name: str
    kind: Literal["off_street", "on_street"]
    lat: float
    lon: float
    fee: Fee | None = Field(description="the lot's fee as registered; null when unknown")


class LotsPage(_Answer):
    as_of: str
    lots: list[LotListItem] = Field(description="in lot id order")
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")


class Summary(_Answer):
    lots: int
    berths: int
    free: int
    occupied: int
    unknown: int
    events_applied: int
    events_rejected: int
    last_event_at: Timestamp
    ingest_lag_s: float | None = Field(
        description=(
            "extension: how far ingest is behind the traffic sent to it, in seconds: the greatest "
            "lag among the ingest processes reporting (each one's parking_hub_ingest_lag_seconds); "
            "null when none reports"
        )
    )
    ingest_processes: int = Field(description="extension: ingest processes reporting their lag")
    as_of: str


class Liveness(_Answer):
    status: Literal["alive"]


class Readiness(_Answer):
    status: Literal["ready", "not_ready"]
    reasons: list[str] | None = None
