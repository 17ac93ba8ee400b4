"""What the NGSI-LD endpoints take and answer, as pydantic models (validation and /openapi.json)."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from parking_hub.api.ngsi import qlang
from parking_hub.api.ngsi.selection import ENTITY_TYPES

MAX_LIMIT = 1000
DEFAULT_LIMIT = 20  # NGSI-LD's default page size
MAX_IDS = 100
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s,]+")
_TERM_OR_IRI = re.compile(r"[^\s,|;()]{1,256}")
# NGSI-LD lists types with commas, or since 1.5 as an expression where "|" also means "or".
_TYPE_SEPARATOR = re.compile(r"[,|]")
_COMMA = re.compile(",")
OPTIONS = ("keyValues", "simplified", "concise", "normalized", "sysAttrs")
_OPTION = re.compile("|".join(OPTIONS))
MAX_TEXT = 2000
MAX_COORDINATES = 200_000


def _items(value: str, pattern: re.Pattern[str], what: str, separator: re.Pattern[str] = _COMMA) -> str:
    items = separator.split(value)
    bad = next((item for item in items if not pattern.fullmatch(item)), None)
    if bad is not None:
        raise ValueError(f"must be a comma list of {what}; {bad!r} is not one")
    return value


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Shape(_Query):
    """Which members an answer keeps, and in which representation."""

    attrs: str | None = Field(
        None,
        description="comma list of attribute names: entities having at least one, each with only those",
        max_length=MAX_TEXT,
    )
    pick: str | None = Field(
        None,
        description="comma list of the members to keep (id, type and attribute names)",
        max_length=MAX_TEXT,
    )
    omit: str | None = Field(None, description="comma list of members to leave out", max_length=MAX_TEXT)
    options: str | None = Field(
        None, description="comma list of keyValues (or simplified), concise, normalized, sysAttrs"
    )
    format: Literal["normalized", "keyValues", "simplified", "concise"] | None = Field(
        None, description="the representation; overrides options"
    )

    @field_validator("attrs", "pick", "omit")
    @classmethod
    def _check_names(cls, value: str | None) -> str | None:
        return None if value is None else _items(value, _TERM_OR_IRI, "attribute names")

    @field_validator("options")
    @classmethod
    def _check_options(cls, value: str | None) -> str | None:
        return None if value is None else _items(value, _OPTION, "options (" + ", ".join(OPTIONS) + ")")


class EntitiesQuery(_Shape):
    type: str | None = Field(
        None,
        description=(
            f"comma (or |) list of entity types: {', '.join(ENTITY_TYPES)}, or their Smart Data Models IRIs; "
            "required unless id, idPattern, attrs, q or a geo-query is given. Other types match no entity."
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
    idPattern: str | None = Field(
        None,
        description="a regular expression (RE2 syntax) an id must contain a match of; `.*` matches every id",
        max_length=MAX_TEXT,
    )
    q: str | None = Field(
        None,
        description="NGSI-LD query language on the attributes served, e.g. "
        'availableSpotNumber>0;status=="free"',
        max_length=qlang.MAX_Q_LENGTH,
    )
    georel: str | None = Field(
        None, description="near;maxDistance==metres (or minDistance), within, intersects, disjoint, equals"
    )
    geometry: Literal["Point", "Polygon", "MultiPolygon"] | None = Field(
        None, description="the geo-query's shape"
    )
    coordinates: str | None = Field(
        None, description="the shape's GeoJSON coordinates, e.g. [120.38,36.06]", max_length=MAX_COORDINATES
    )
    geoproperty: str | None = Field(None, description="location, the only GeoProperty served")
    local: Literal["true", "false"] = Field(
        "false", description="accepted; this server holds only its own data"
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


class EntityQuery(_Shape):
    pass


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


class ObjectProperty(_Answer):
    type: Literal["Property"]
    value: dict[str, str]


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
    # The lot's facts (api/ngsi/facts.py), where the registry gives them.
    allowedVehicleType: TextListProperty | None = Field(None, description="car first where it has car berths")
    requiredPermit: TextListProperty | None = None
    openingHours: TextProperty | None = Field(None, description="OffStreetParking: OpenStreetMap syntax")
    maximumAllowedHeight: NumberProperty | None = Field(None, description="OffStreetParking: metres")
    maximumParkingDuration: TextProperty | None = Field(None, description="ISO 8601 duration")
    priceRatePerMinute: NumberProperty | None = Field(None, description="OffStreetParking")
    priceCurrency: TextProperty | None = Field(None, description="OffStreetParking: ISO 4217")
    address: ObjectProperty | None = Field(None, description="streetAddress")
    seeAlso: TextListProperty | None = Field(None, description="the lot's web page")
    contactPoint: ObjectProperty | None = Field(None, description="OffStreetParking: telephone")
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


# -- answers (keyValues form) --------------------------------------------------------------------


class ParkingSiteValues(_Answer):
    """A ParkingSite with options=keyValues: each attribute as its bare value."""

    id: str
    type: Literal["OffStreetParking", "OnStreetParking"]
    name: str
    location: Point
    totalSpotNumber: int
    availableSpotNumber: int
    occupiedSpotNumber: int
    occupancyDetectionType: list[str]
    category: list[str] | None = None
    occupancy: float | None = None
    status: list[str] | None = None
    allowedVehicleType: list[str] | None = None
    requiredPermit: list[str] | None = None
    openingHours: str | None = None
    maximumAllowedHeight: float | None = None
    maximumParkingDuration: str | None = None
    priceRatePerMinute: float | None = None
    priceCurrency: str | None = None
    address: dict[str, str] | None = None
    seeAlso: list[str] | None = None
    contactPoint: dict[str, str] | None = None
    context: list[str] | None = Context


class ParkingSpotValues(_Answer):
    """A ParkingSpot with options=keyValues: each attribute as its bare value."""

    id: str
    type: Literal["ParkingSpot"]
    location: Point
    status: str
    category: list[str]
    refParkingSite: str = Field(description="the lot's entity id")
    context: list[str] | None = Context


class ShapedEntity(_Answer):
    """An entity as attrs, pick, omit, options=concise or sysAttrs shape it: members are the served
    attributes (each normalized, concise or a bare value) and createdAt/modifiedAt."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    type: str | None = None


AnyEntity = ParkingSite | ParkingSpot | ParkingSiteValues | ParkingSpotValues | ShapedEntity


class EntityList(RootModel[list[AnyEntity]]):
    pass


class OneEntity(RootModel[AnyEntity]):
    pass


class ProblemDetails(_Answer):
    """NGSI-LD's error body (RFC 7807 problem details)."""

    type: str = Field(description="https://uri.etsi.org/ngsi-ld/errors/BadRequestData, ... or about:blank")
    title: str
    status: int
    detail: str


class Feature(_Answer):
    """An entity as a GeoJSON Feature (Accept: application/geo+json)."""

    id: str
    type: Literal["Feature"]
    geometry: Point
    properties: dict[str, Any] = Field(description="the entity's members but id, in the form asked for")


class FeatureCollection(_Answer):
    type: Literal["FeatureCollection"]
    features: list[Feature]


class TypesQuery(_Query):
    details: Literal["true", "false"] = Field("false", description="true: each type or attribute in detail")


class EntitySelector(_Answer):
    id: str | None = None
    idPattern: str | None = None
    type: str | None = None


class GeoQueryBody(_Answer):
    geometry: str
    coordinates: Any
    georel: str
    geoproperty: str | None = None


class QueryBody(_Answer):
    """The body of POST /ngsi-ld/v1/entityOperations/query: NGSI-LD's Query data type."""

    type: Literal["Query"]
    entities: list[EntitySelector] | None = Field(None, max_length=1, description="at most one selector")
    attrs: list[str] | None = None
    q: str | None = None
    geoQ: GeoQueryBody | None = None
    context: Any = Field(None, alias="@context", description="accepted; terms are the served ones")

    def as_parameters(self) -> dict[str, str]:
        """The same query as GET parameters, to be validated as those are."""
        found: dict[str, Any] = {}
        if self.entities:
            found |= self.entities[0].model_dump(exclude_none=True)
        if self.attrs is not None:
            found["attrs"] = ",".join(self.attrs)
        if self.q is not None:
            found["q"] = self.q
        if self.geoQ is not None:
            found |= self.geoQ.model_dump(exclude_none=True)
            found["coordinates"] = orjson.dumps(self.geoQ.coordinates).decode()
        return found


def _attribute_kinds(model: type[BaseModel], absent: tuple[str, ...] = ()) -> dict[str, str]:
    kinds = {GeoProperty: "GeoProperty", Relationship: "Relationship"}
    return {
        name: next(
            (k for m, k in kinds.items() if m in get_args(field.annotation) or field.annotation is m),
            "Property",
        )
        for name, field in model.model_fields.items()
        if name not in ("id", "type", "context", *absent)
    }


# Per served type: its attributes and their NGSI-LD attribute types, for /types and /attributes.
ATTRIBUTES = {
    "OffStreetParking": _attribute_kinds(ParkingSite),
    "OnStreetParking": _attribute_kinds(ParkingSite, ("occupancy", "status")),
    "ParkingSpot": _attribute_kinds(ParkingSpot),
}
