"""The lot registry: GeoJSON lots, validated field by field (contract section 2)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import orjson

from parking_hub.fields import FieldError as _FieldError
from parking_hub.fields import is_int as _is_int
from parking_hub.fields import require as _require
from parking_hub.lot_facts import Facts, parse_facts

LOT_ID = re.compile(r"^[a-z0-9_-]{1,64}$")
DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")
DEVICE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
NO_OPERATOR = "unknown"  # the operator of a lot whose registry entry names none
REQUIRED = ("id", "kind", "capacity")
KINDS = ("off_street", "on_street")
# A berth listed under a vehicle class is for that class only; every other berth is a car berth.
VEHICLE_CLASSES = ("motorcycle", "truck", "bus")
BERTH_FEATURES = ("ev", "accessible", "family", "carsharing")  # what /v1/nearest's features= names
FEATURES = (*BERTH_FEATURES, *VEHICLE_CLASSES)
VEHICLES = ("car", *VEHICLE_CLASSES)
CODECS = (
    "bosch-pls",
    "nwave-nps405",
    "nwave-nps310",
    "libelium-parking",
    "pni-placepod",
    "tekzipark",
    "milesight-em400",
    "dragino-ldds75",
)
DISTANCE_CODECS = ("milesight-em400", "dragino-ldds75")
MAX_CAPACITY = 100_000
MAX_REGISTRY_BYTES = 512 * 1024 * 1024
DEFAULT_HEARTBEAT_S = 3600
MAX_HEARTBEAT_S = 7 * 24 * 3600
MAX_LAT = 85.05112878
MAX_REPORTED_ERRORS = 50

Kind = Literal["off_street", "on_street"]


class RegistryError(ValueError):
    """A registry that cannot be loaded: one line per problem (at most MAX_REPORTED_ERRORS), each
    naming the file, the feature index, the field and the reason."""


@dataclass(frozen=True, slots=True)
class Device:
    berth: int
    codec: str | None = None
    threshold_mm: int | None = None


@dataclass(frozen=True, slots=True)
class Lot:
    id: str
    name: str
    operator: str
    kind: Kind
    capacity: int
    lon: float
    lat: float
    heartbeat_s: int = DEFAULT_HEARTBEAT_S
    features: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    berths: tuple[tuple[float, float], ...] | None = None
    codec: str | None = None
    devices: Mapping[str, Device] = field(default_factory=dict)
    facts: Facts = field(default_factory=Facts)

    def to_feature(self) -> dict[str, Any]:
        """The lot as a GeoJSON Feature, in the registry's own normalised form."""
        props: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "operator": self.operator,
            "kind": self.kind,
            "capacity": self.capacity,
            "heartbeat_s": self.heartbeat_s,
            "features": {name: list(berths) for name, berths in self.features.items()},
            **self.facts.as_properties(),
        }
        if self.berths is not None:
            props["berths"] = [list(point) for point in self.berths]
        if self.codec is not None:
            props["codec"] = self.codec
        if self.devices:
            props["devices"] = {
                key: {
                    k: v
                    for k, v in (("berth", d.berth), ("codec", d.codec), ("threshold_mm", d.threshold_mm))
                    if v is not None
                }
                for key, d in self.devices.items()
            }
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "properties": props,
        }


def _point(value: object, field_name: str) -> tuple[float, float]:
    _require(
        isinstance(value, list) and len(value) == 2,
        field_name,
        "must be a [lon, lat] pair of numbers",
    )
    lon, lat = cast(list[object], value)
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lon, lat))
    _require(ok, field_name, "must be a [lon, lat] pair of numbers")
    lon_f, lat_f = float(cast(float, lon)), float(cast(float, lat))
    _require(-180 <= lon_f <= 180, field_name, f"longitude {lon_f} must be between -180 and 180")
    _require(-MAX_LAT <= lat_f <= MAX_LAT, field_name, f"latitude {lat_f} must be between ±{MAX_LAT}")
    return lon_f, lat_f


def _text(props: Mapping[str, object], name: str, default: str) -> str:
    value = props.get(name, default)
    if not isinstance(value, str) or not 0 < len(value) <= 256:
        raise _FieldError(name, "must be text of 1 to 256 characters")
    return value


def _berth_index(value: object, capacity: int, field_name: str) -> int:
    _require(_is_int(value), field_name, "must be an integer berth number")
    berth = cast(int, value)
    _require(0 <= berth < capacity, field_name, f"berth {berth} is outside 0..{capacity - 1}")
    return berth


def _features(value: object, capacity: int) -> dict[str, tuple[int, ...]]:
    _require(isinstance(value, dict), "features", "must be an object of berth lists")
    result: dict[str, tuple[int, ...]] = {}
    for name, berths in cast(dict[str, object], value).items():
        field_name = f"features.{name}"
        _require(name in FEATURES, field_name, f"unknown feature; known: {', '.join(FEATURES)}")
        _require(isinstance(berths, list), field_name, "must be a list of berth numbers")
        indexes = [_berth_index(b, capacity, field_name) for b in cast(list[object], berths)]
        _require(len(set(indexes)) == len(indexes), field_name, "lists a berth twice")
        result[name] = tuple(sorted(indexes))
    classed = [b for name in VEHICLE_CLASSES for b in result.get(name, ())]
    if len(set(classed)) < len(classed):
        twice = min(b for b in set(classed) if classed.count(b) > 1)
        raise _FieldError("features", f"berth {twice} is listed under two vehicle classes")
    return result


def _codec(value: object, field_name: str) -> str:
    _require(value in CODECS, field_name, f"unknown codec {value!r}; known: {', '.join(CODECS)}")
    return cast(str, value)


def _device(key: str, value: object, capacity: int, lot_codec: str | None) -> Device:
    field_name = f"devices.{key}"
    _require(
        bool(DEV_EUI.fullmatch(key) or DEVICE_ID.fullmatch(key)),
        field_name,
        "must be a 16-hex-digit DevEUI or a device id of [A-Za-z0-9_.:-]",
    )
    # The short form `"key": berth` is `{"berth": berth}`, held to the same rules.
    spec = cast(dict[str, object], value) if isinstance(value, dict) else {"berth": value}
    unknown = set(spec) - {"berth", "codec", "threshold_mm"}
    _require(not unknown, field_name, f"unknown keys {sorted(unknown)}")
    berth_field = f"{field_name}.berth" if isinstance(value, dict) else field_name
    berth = _berth_index(spec.get("berth"), capacity, berth_field)
    codec = _codec(spec["codec"], f"{field_name}.codec") if "codec" in spec else lot_codec
    threshold = spec.get("threshold_mm")
    if threshold is not None:
        _require(
            _is_int(threshold) and 0 < cast(int, threshold) <= 100_000,
            f"{field_name}.threshold_mm",
            "must be an integer between 1 and 100000",
        )
    if codec in DISTANCE_CODECS:
        _require(threshold is not None, f"{field_name}.threshold_mm", f"is required for codec {codec}")
    return Device(berth, codec, cast(int | None, threshold))


def parse_feature(feature: object) -> Lot:
    """Validate one GeoJSON Feature into a Lot; raises _FieldError naming the field."""
    _require(isinstance(feature, dict), "feature", "must be a GeoJSON Feature object")
    feat = cast(dict[str, object], feature)
    _require(feat.get("type") == "Feature", "type", 'must be "Feature"')
    geometry = feat.get("geometry")
    _require(
        isinstance(geometry, dict) and geometry.get("type") == "Point",
        "geometry",
        "must be a GeoJSON Point",
    )
    lon, lat = _point(cast(dict[str, object], geometry).get("coordinates"), "geometry.coordinates")
    props = feat.get("properties")
    _require(isinstance(props, dict), "properties", "must be an object")
    p = cast(dict[str, object], props)

    for name in REQUIRED:
        _require(name in p, name, "is missing")
    lot_id = p["id"]
    if not isinstance(lot_id, str) or not LOT_ID.fullmatch(lot_id):
        raise _FieldError("id", "must match [a-z0-9_-]{1,64}")
    kind = p.get("kind")
    _require(kind in KINDS, "kind", "must be off_street or on_street")
    capacity = p.get("capacity")
    _require(
        _is_int(capacity) and 1 <= cast(int, capacity) <= MAX_CAPACITY,
        "capacity",
        f"must be an integer between 1 and {MAX_CAPACITY}",
    )
    cap = cast(int, capacity)
    heartbeat = p.get("heartbeat_s", DEFAULT_HEARTBEAT_S)
    _require(
        _is_int(heartbeat) and 1 <= cast(int, heartbeat) <= MAX_HEARTBEAT_S,
        "heartbeat_s",
        f"must be an integer number of seconds between 1 and {MAX_HEARTBEAT_S}",
    )
    berths = None
    if "berths" in p:
        raw = p["berths"]
        _require(isinstance(raw, list) and len(raw) == cap, "berths", f"must list {cap} [lon, lat] points")
        berths = tuple(_point(pt, f"berths[{i}]") for i, pt in enumerate(cast(list[object], raw)))
    codec = _codec(p["codec"], "codec") if "codec" in p else None
    devices_raw = p.get("devices", {})
    _require(isinstance(devices_raw, dict), "devices", "must map device ids to berths")
    devices: dict[str, Device] = {}
    for key, spec in cast(dict[str, object], devices_raw).items():
        norm = key.upper() if DEV_EUI.fullmatch(key) else key
        _require(norm not in devices, f"devices.{key}", "names the same device twice")
        devices[norm] = _device(key, spec, cap, codec)
    return Lot(
        id=lot_id,
        name=_text(p, "name", lot_id),
        operator=_text(p, "operator", NO_OPERATOR),
        kind=cast(Kind, kind),
        capacity=cap,
        lon=lon,
        lat=lat,
        heartbeat_s=cast(int, heartbeat),
        features=_features(p.get("features", {}), cap),
        berths=berths,
        codec=codec,
        devices=devices,
        facts=parse_facts(p, lat, lon, _point),
    )


def parse_registry(data: bytes, source: str = "<registry>") -> list[Lot]:
    """Validate a whole FeatureCollection; any error rejects all of it, and every error is reported."""
    if len(data) > MAX_REGISTRY_BYTES:
        raise RegistryError(f"{source}: larger than {MAX_REGISTRY_BYTES} bytes; split it into several files")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RegistryError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise RegistryError(f'{source}: must be a GeoJSON object with "type": "FeatureCollection"')
    features = doc.get("features")
    if not isinstance(features, list):
        raise RegistryError(f'{source}: "features" must be a list of lots')
    lots: list[Lot] = []
    seen_ids: set[str] = set()
    device_owner: dict[str, str] = {}
    problems: list[str] = []
    for index, feature in enumerate(features):
        try:
            lot = parse_feature(feature)
            _require(lot.id not in seen_ids, "id", f"{lot.id!r} appears twice in the file")
            for device in lot.devices:
                owner = device_owner.setdefault(device, lot.id)
                _require(owner == lot.id, f"devices.{device}", f"is already bound to lot {owner!r}")
        except _FieldError as exc:
            problems.append(f"{source}: feature {index}: {exc.field_name}: {exc}")
            if len(problems) == MAX_REPORTED_ERRORS:
                problems.append(f"{source}: stopped at {MAX_REPORTED_ERRORS} errors; fix these first")
                break
            continue
        seen_ids.add(lot.id)
        lots.append(lot)
    if problems:
        raise RegistryError("\n".join(problems))
    return lots


def check_devices_unclaimed(lots: Sequence[Lot], loaded: Iterable[Lot], source: str) -> None:
    """A device reports for one lot only: a file may not bind a device that a lot already loaded
    from another file holds. Lots the file replaces do not count, so a device can move with them."""
    replaced = {lot.id for lot in lots}
    owners = {key.casefold(): lot.id for lot in loaded if lot.id not in replaced for key in lot.devices}
    for index, lot in enumerate(lots):
        for key in lot.devices:
            owner = owners.get(key.casefold())
            if owner is not None:
                raise RegistryError(
                    f"{source}: feature {index}: devices.{key}: is already bound to lot {owner!r}, "
                    "loaded earlier; load that lot again without it first"
                )


def read_registry(path: Path) -> list[Lot]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"{path}: cannot be read: {exc.strerror}") from None
    return parse_registry(data, str(path))


def read_registries(paths: Iterable[Path]) -> list[tuple[Path, list[Lot]]]:
    """Validate every file first, so a bad file is reported before anything is written."""
    return [(path, read_registry(path)) for path in paths]


def lots_by_id(lots: Sequence[Lot]) -> dict[str, Lot]:
    return {lot.id: lot for lot in lots}
