"""What the NGSI-LD endpoints take and answer, as pydantic models (validation and /openapi.json)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from parking_hub.api.ngsi.selection import ENTITY_TYPES

MAX_LIMIT = 1000
DEFAULT_LIMIT = 20  # NGSI-LD's default page size
MAX_IDS = 100
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s,]+")
_TERM_OR_IRI = re.compile(r"[^\s,|;()]{1,256}")
# NGSI-LD lists types with commas, or since 1.5 as an expression where "|" also means "or".
_TYPE_SEPARATOR = re.compile(r"[,|]")
_COMMA = re.compile(",")


def _items(value: str, pattern: re.Pattern[str], what: str, separator: re.Pattern[str] = _COMMA) -> str:
    items = separator.split(value)
    bad = next((item for item in items if not pattern.fullmatch(item)), None)
    if bad is not None:
        raise ValueError(f"must be a comma list of {what}; {bad!r} is not one")
    return value


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntitiesQuery(_Query):
    type: str | None = Field(
        None,
        description=(
            f"comma (or |) list of entity types: {', '.join(ENTITY_TYPES)}, or their Smart Data Models IRIs; "
            "required unless `id` is given. Other types match no entity."
        ),
        examples=["OffStreetParking"],
    )
    id: str | None = Field(
        None, description=f"comma list of at most {MAX_IDS} entity ids (URIs); unknown ids match nothing"
    )
    limit: int = Field(
        DEFAULT_LIMIT, ge=0, le=MAX_LIMIT, description="most entities in the answer; 0 only with count=true"
    )
    offset: int = Field(0, ge=0, description="entities to skip, in the served order")
    count: Literal["true", "false"] = Field(
        "false", description="true: the NGSILD-Results-Count header carries how many entities match"
    )
    options: Literal["keyValues", "normalized"] = Field(
        "normalized", description="keyValues: each attribute as its bare value (the simplified form)"
    )

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str | None) -> str | None:
        return None if value is None else _items(value, _TERM_OR_IRI, "type names", _TYPE_SEPARATOR)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.count(",") >= MAX_IDS:
            raise ValueError(f"must name at most {MAX_IDS} ids")
        return _items(value, _URI, "URIs")

    @property
    def type_names(self) -> list[str] | None:
        return None if self.type is None else _TYPE_SEPARATOR.split(self.type)

    @property
    def ids(self) -> list[str] | None:
        return None if self.id is None else self.id.split(",")


class EntityQuery(_Query):
    options: Literal["keyValues", "normalized"] = Field(
        "normalized", description="keyValues: each attribute as its bare value (the simplified form)"
    )


class EntityPath(_Query):
    entity_id: str = Field(description="the entity's id, e.g. urn:ngsi-ld:ParkingSpot:{lot}:{berth}")

    @field_validator("entity_id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _URI.fullmatch(value):
            raise ValueError("must be a URI")
        return value


# -- answers (normalized form) -------------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


ObservedAt = Field(None, description="when the value was observed: the newest sensor report behind it")


# Attribute names are NGSI-LD's and the schemas' own, hence camelCase.
class IntegerProperty(_Answer):
    type: Literal["Property"]
    value: int
    observedAt: str | None = ObservedAt


class NumberProperty(_Answer):
    type: Literal["Property"]
    value: float
    observedAt: str | None = ObservedAt


class TextProperty(_Answer):
    type: Literal["Property"]
    value: str
    observedAt: str | None = ObservedAt


class TextListProperty(_Answer):
    type: Literal["Property"]
    value: list[str]
    observedAt: str | None = ObservedAt


class Point(_Answer):
    type: Literal["Point"]
    coordinates: tuple[float, float] = Field(description="[lon, lat], WGS 84")


class GeoProperty(_Answer):
    type: Literal["GeoProperty"]
    value: Point


class Relationship(_Answer):
    type: Literal["Relationship"]
    object: str


Context = Field(
    None, alias="@context", description="only with Accept: application/ld+json; else in the Link header"
)


class ParkingSite(_Answer):
    """An OffStreetParking or OnStreetParking entity: one lot and its live counts."""

    id: str = Field(description="urn:ngsi-ld:OffStreetParking:{lot} or urn:ngsi-ld:OnStreetParking:{lot}")
    type: Literal["OffStreetParking", "OnStreetParking"]
    name: TextProperty
    location: GeoProperty
    totalSpotNumber: IntegerProperty
    availableSpotNumber: IntegerProperty = Field(description="known, fresh, free berths")
    occupiedSpotNumber: IntegerProperty
    occupancyDetectionType: TextListProperty
    category: TextListProperty | None = Field(
        None, description="forElectricalCharging, forDisabled: the lot has such berths"
    )
    occupancy: NumberProperty | None = Field(
        None, description="OffStreetParking: occupiedSpotNumber / totalSpotNumber"
    )
    status: TextListProperty | None = Field(
        None,
        description="OffStreetParking: spacesAvailable, or full when no berth is free or unknown; "
        "absent while no berth is free and some are unknown",
    )
    context: list[str] | None = Context


class ParkingSpot(_Answer):
    """One berth."""

    id: str = Field(description="urn:ngsi-ld:ParkingSpot:{lot}:{berth}")
    type: Literal["ParkingSpot"]
    location: GeoProperty = Field(description="the bay's point where the registry lists bays, else the lot's")
    status: TextProperty = Field(
        description="free or occupied, with observedAt; or unknown: never reported, stale, or the lot offline"
    )
    category: TextListProperty = Field(description="onStreet or offStreet")
    refParkingSite: Relationship
    context: list[str] | None = Context


class EntityList(RootModel[list[ParkingSite | ParkingSpot]]):
    pass


class OneEntity(RootModel[ParkingSite | ParkingSpot]):
    pass


class ProblemDetails(_Answer):
    """NGSI-LD's error body (RFC 7807 problem details)."""

    type: str = Field(description="https://uri.etsi.org/ngsi-ld/errors/BadRequestData, ... or about:blank")
    title: str
    detail: str
