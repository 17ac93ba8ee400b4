"""What the simulator needs of a lot registry (contract section 2), as city-wide per-berth arrays.

Berths of all lots are numbered in one run: lot `i`'s berth `b` is `offsets[i] + b`. Each berth has
at most one device here (the first the registry names for it); berths without one report through
their lot's gateway.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from sensors_sim.city import CODECS, DISTANCE_CODECS, MAX_CAPACITY

DEFAULT_HEARTBEAT_S = 3_600
LOT_ID = re.compile(r"[a-z0-9_-]{1,64}")
DEV_EUI = re.compile(r"[0-9A-Fa-f]{16}")
FEATURES = ("ev", "accessible")
# A berth listed under one of these is for that class only; every other berth is a car berth.
VEHICLE_CLASSES = ("motorcycle", "truck", "bus")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class RegistryError(ValueError):
    """The registry file cannot be used; the message names the feature and field."""


@dataclass(frozen=True, slots=True)
class Registry:
    lot_ids: list[str]
    on_street: BoolArray  # per lot
    capacity: IntArray  # per lot
    heartbeat_s: IntArray  # per lot
    lon: FloatArray  # per lot
    lat: FloatArray  # per lot
    codec: IntArray  # per berth: index into CODECS, -1 for none
    device: IntArray  # per berth: index into device_keys, -1 for none
    threshold_mm: IntArray  # per berth: 0 unless a distance sensor
    device_keys: list[str]
    features: dict[str, BoolArray]  # per berth: has the feature
    car: BoolArray  # per berth: under no vehicle class
    door_lon: FloatArray  # per lot: its first entrance, or its point where it lists none
    door_lat: FloatArray

    @property
    def offsets(self) -> IntArray:
        """Index of each lot's berth 0 in the city-wide berth arrays."""
        offsets: IntArray = np.cumsum(self.capacity) - self.capacity
        return offsets

    @property
    def berths(self) -> int:
        return int(self.capacity.sum())

    def lot_of_berths(self) -> IntArray:
        return np.repeat(np.arange(len(self.lot_ids), dtype=np.int64), self.capacity)


class _Columns:
    """Accumulates the registry while reading it, lot by lot."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.on_street: list[bool] = []
        self.capacity: list[int] = []
        self.heartbeat: list[int] = []
        self.points: list[tuple[float, float]] = []
        self.codec: list[IntArray] = []
        self.device: list[IntArray] = []
        self.threshold: list[IntArray] = []
        self.keys: list[str] = []
        self.features: dict[str, list[BoolArray]] = {name: [] for name in FEATURES}
        self.car: list[BoolArray] = []
        self.doors: list[tuple[float, float]] = []


def _fail(where: str, field: str, reason: str) -> RegistryError:
    return RegistryError(f"{where}: {field} {reason}")


def _codec_index(value: object, where: str, field: str) -> int:
    if value not in CODECS:
        raise _fail(where, field, f"is not a known codec ({', '.join(CODECS)})")
    return CODECS.index(str(value))


def _read_lot(index: int, feature: object, out: _Columns, source: Path) -> None:
    where = f"{source}: feature {index}"
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    props = feature.get("properties") if isinstance(feature, dict) else None
    if not isinstance(props, dict):
        raise _fail(where, "properties", "must be an object")
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (
        not isinstance(coords, list)
        or len(coords) != 2
        or not all(isinstance(c, int | float) for c in coords)
    ):
        raise _fail(where, "geometry", "must be a GeoJSON Point")
    lot, cap = props.get("id"), props.get("capacity")
    beat = props.get("heartbeat_s", DEFAULT_HEARTBEAT_S)
    if not isinstance(lot, str) or not LOT_ID.fullmatch(lot):
        raise _fail(where, "id", "must match [a-z0-9_-]{1,64}")
    if type(cap) is not int or not 1 <= cap <= MAX_CAPACITY:
        raise _fail(where, "capacity", f"must be an integer 1..{MAX_CAPACITY}")
    if type(beat) is not int or beat < 1:
        raise _fail(where, "heartbeat_s", "must be a positive integer")
    if props.get("kind") not in ("on_street", "off_street"):
        raise _fail(where, "kind", "must be on_street or off_street")
    lot_codec = _codec_index(props["codec"], where, "codec") if "codec" in props else -1
    berths = _Berths(cap, lot_codec)
    devices = props.get("devices", {})
    if not isinstance(devices, dict):
        raise _fail(where, "devices", "must map device ids to berths")
    for key, spec in devices.items():
        berths.add_device(key, spec, out.keys, f"{where}: devices.{key}")
    out.ids.append(lot)
    out.on_street.append(props["kind"] == "on_street")
    out.capacity.append(cap)
    out.heartbeat.append(beat)
    out.points.append((float(coords[0]), float(coords[1])))
    out.codec.append(berths.codec)
    out.device.append(berths.device)
    out.threshold.append(berths.threshold)
    listed = props.get("features", {})
    for name in FEATURES:
        berth_list = listed.get(name, []) if isinstance(listed, dict) else None
        out.features[name].append(_feature_mask(berth_list, cap, f"{where}: features.{name}"))
    car = np.ones(cap, dtype=bool)
    for name in VEHICLE_CLASSES:
        berth_list = listed.get(name, []) if isinstance(listed, dict) else None
        car &= ~_feature_mask(berth_list, cap, f"{where}: features.{name}")
    out.car.append(car)
    entrances = props.get("entrances") or [coords]
    door = entrances[0] if isinstance(entrances, list) else None
    if not isinstance(door, list) or len(door) != 2 or not all(isinstance(c, int | float) for c in door):
        raise _fail(where, "entrances", "must be a list of [lon, lat] points")
    out.doors.append((float(door[0]), float(door[1])))


class _Berths:
    """One lot's per-berth codec, device and threshold, filled from its device map."""

    def __init__(self, capacity: int, lot_codec: int) -> None:
        self.codec = np.full(capacity, lot_codec, dtype=np.int64)
        self.device = np.full(capacity, -1, dtype=np.int64)
        self.threshold = np.zeros(capacity, dtype=np.int64)

    def add_device(self, key: str, spec: Any, keys: list[str], where: str) -> None:
        spec = spec if isinstance(spec, dict) else {"berth": spec}
        berth = spec.get("berth")
        if type(berth) is not int or not 0 <= berth < len(self.codec):
            raise RegistryError(f"{where}: berth must be an integer 0..{len(self.codec) - 1}")
        if self.device[berth] >= 0:
            return  # a second device on one berth: the first one reports
        self.device[berth] = len(keys)
        keys.append(key)
        if "codec" in spec:
            self.codec[berth] = _codec_index(spec["codec"], where, "codec")
        if self.codec[berth] >= 0 and CODECS[self.codec[berth]] in DISTANCE_CODECS:
            limit = spec.get("threshold_mm")
            if type(limit) is not int or limit < 1:
                raise RegistryError(f"{where}: threshold_mm is required for a distance sensor")
            self.threshold[berth] = limit


def _feature_mask(berths: object, cap: int, where: str) -> BoolArray:
    mask = np.zeros(cap, dtype=bool)
    if isinstance(berths, list) and berths:
        index = np.asarray(berths)
        if index.dtype.kind not in "iu" or index.min() < 0 or index.max() >= cap:
            raise RegistryError(f"{where} lists a berth outside 0..{cap - 1}")
        mask[index] = True
    return mask


def load_registry(path: Path) -> Registry:
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise RegistryError(f"{path} is not JSON: {exc}") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or not features:
        raise RegistryError(f"{path} is not a GeoJSON FeatureCollection with features")
    out = _Columns()
    for index, feature in enumerate(features):
        _read_lot(index, feature, out, path)
    if len(set(out.ids)) != len(out.ids):
        raise RegistryError(f"{path}: lot ids are not unique")
    points = np.array(out.points, dtype=np.float64)
    return Registry(
        lot_ids=out.ids,
        on_street=np.array(out.on_street, dtype=bool),
        capacity=np.array(out.capacity, dtype=np.int64),
        heartbeat_s=np.array(out.heartbeat, dtype=np.int64),
        lon=points[:, 0].copy(),
        lat=points[:, 1].copy(),
        codec=np.concatenate(out.codec),
        device=np.concatenate(out.device),
        threshold_mm=np.concatenate(out.threshold),
        device_keys=out.keys,
        features={name: np.concatenate(masks) for name, masks in out.features.items()},
        car=np.concatenate(out.car),
        door_lon=np.array([d[0] for d in out.doors], dtype=np.float64),
        door_lat=np.array([d[1] for d in out.doors], dtype=np.float64),
    )
