"""Deterministic city generator: a lot registry (contract section 2) as a GeoJSON FeatureCollection.

The default is the seed city, Qingdao: 706 lots and 188,000 berths placed by district, denser in
the old urban core. Capacities sum exactly to the requested berths. On-street lots carry per-berth
coordinates and a device map (one LoRaWAN DevEUI per berth); about a quarter of the off-street
lots of up to 500 berths (surface lots with in-ground sensors) carry a device map too, unless the
city has more than `DEVICE_MAP_BERTH_LIMIT` berths, where only on-street lots do, to keep the file
small. Lots without devices report through their gateway's native batch frames.

Every random draw comes from one generator seeded by `--seed`, in a fixed order, so the same
arguments give byte-identical output.
"""

import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from sensors_sim.districts import CITY_NAME, DISTRICTS
from sensors_sim.facts import FACTS_STREAM, KERB, Shape, lot_facts

SEED_LOTS = 706
SEED_BERTHS = 188_000
DEFAULT_SEED = 1
MAX_CAPACITY = 100_000
MAX_LOTS = 999_999
DEVICE_MAP_BERTH_LIMIT = 2_000_000
COORD_DECIMALS = 6

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
DISTANCE_CODECS = frozenset({"milesight-em400", "dragino-ldds75"})
# Keep-alive periods after the vendors' documented defaults (refs/sensor-formats.md 3.1).
HEARTBEAT_S = {
    "bosch-pls": 86_400,
    "nwave-nps405": 10_800,
    "nwave-nps310": 10_800,
    "libelium-parking": 10_800,
    "pni-placepod": 3_600,
    "tekzipark": 3_600,
    "milesight-em400": 3_600,
    "dragino-ldds75": 3_600,
}
# In-ground vehicle detectors on the kerb; ceiling-mounted distance sensors mostly in garages.
ON_STREET_CODEC_WEIGHTS = (0.26, 0.26, 0.10, 0.10, 0.14, 0.14, 0.0, 0.0)
OFF_STREET_CODEC_WEIGHTS = (0.10, 0.10, 0.05, 0.05, 0.05, 0.05, 0.35, 0.25)

CORE_WEIGHT = 3.0  # lots per resident in the core districts, relative to the rest
ON_STREET_SHARE_CORE, ON_STREET_SHARE_OUTER = 0.5, 0.3
SPREAD_CORE_M, SPREAD_OUTER_M = 1_600.0, 3_500.0  # standard deviation of lots around a centre
SURFACE_SENSOR_SHARE = 0.25
SURFACE_SENSOR_MAX_CAPACITY = 500
BAY_SPACING_M = (5.5, 6.5)
BAYS_PER_ROW = 60  # longer on-street lots continue on the next parallel street
ROW_GAP_M = 80.0
METRES_PER_DEGREE = 111_320.0
DEVEUI_BASE = 0x0251_4400_0000_0000  # locally administered EUI-64 range ("QD")

STREETS = (
    "Zhongshan", "Xianggang", "Yan'an", "Ningxia", "Fuzhou", "Shandong", "Liaoning", "Nanjing",
    "Haier", "Shenzhen", "Jiangxi", "Taidong", "Hefei", "Dunhua", "Chongqing", "Minjiang",
    "Donghai", "Yunxiao", "Wenzhou", "Changsha", "Guizhou", "Yinchuan", "Jinhua", "Zhengzhou",
)  # fmt: skip
OFF_STREET_LABELS = ("Car Park", "Garage", "Underground Car Park", "Plaza Parking", "Surface Lot")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CitySpec:
    lots: int = SEED_LOTS
    berths: int = SEED_BERTHS
    seed: int = DEFAULT_SEED
    prefix: str = "qd"  # lot ids are `{prefix}-0001` ...

    def __post_init__(self) -> None:
        if not 1 <= self.lots <= MAX_LOTS:
            raise ValueError(f"lots must be between 1 and {MAX_LOTS:,}")
        if not self.lots <= self.berths <= self.lots * MAX_CAPACITY:
            raise ValueError(
                f"berths must be between {self.lots:,} and {self.lots * MAX_CAPACITY:,} for "
                f"{self.lots:,} lots (each lot holds 1..{MAX_CAPACITY:,})"
            )
        if self.seed < 0:
            raise ValueError("seed must be >= 0")


def allocate(total: int, weights: FloatArray, low: int, high: int) -> IntArray:
    """Split `total` into integers in [low, high], as proportional to `weights` as the bounds allow.

    Entries whose share would exceed `high` are pinned there and the rest is shared out again;
    the rounding remainder goes to the largest fractional parts, so the sum is exact.
    """
    n = len(weights)
    if not n * low <= total <= n * high:
        raise ValueError(f"cannot split {total} into {n} parts of {low}..{high}")
    room = high - low
    spare = total - n * low
    pinned = np.zeros(n, dtype=bool)
    while True:
        free_weights = np.where(pinned, 0.0, weights)
        left = spare - room * int(pinned.sum())
        weight_sum = float(free_weights.sum())
        ideal = free_weights * (left / weight_sum) if weight_sum > 0 else free_weights
        over = ~pinned & (ideal > room)
        if not over.any():
            break
        pinned |= over
    ideal = np.where(pinned, float(room), ideal)
    parts = np.floor(ideal).astype(np.int64)
    short = spare - int(parts.sum())
    by_fraction = np.argsort(parts - ideal, kind="stable")  # largest fractional part first
    parts[by_fraction[:short]] += 1
    return parts + low


def deveui_base(prefix: str) -> int:
    """Cities with different lot id prefixes get different DevEUIs (the seed city's are the base)."""
    offset = (zlib.crc32(prefix.encode()) ^ zlib.crc32(b"qd")) & 0xFFFFF
    return DEVEUI_BASE + (offset << 28)  # 2**28 devices per city, within the same locally administered range


def hex_euis(first: int, count: int) -> list[str]:
    """`count` consecutive EUI-64s from `first`, as 16 upper-case hex digits."""
    values = np.arange(count, dtype=np.uint64) + np.uint64(first)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    nibbles = (values[:, None] >> shifts) & np.uint64(0xF)
    digits = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)[nibbles]
    return np.ascontiguousarray(digits).view("S16").ravel().astype("U16").tolist()


@dataclass(frozen=True, slots=True)
class _Lots:
    """The city as columns, one row per lot."""

    on_street: npt.NDArray[np.bool_]
    capacity: IntArray
    lon: FloatArray
    lat: FloatArray
    operator: IntArray
    codec: IntArray
    has_devices: npt.NDArray[np.bool_]
    ev: IntArray
    accessible: IntArray
    names: list[str]
    label: IntArray  # index into OFF_STREET_LABELS; facts.KERB on-street
    addresses: list[str]


def _draw_lots(spec: CitySpec, rng: np.random.Generator) -> _Lots:
    n = spec.lots
    core = np.array([d.core for d in DISTRICTS])
    district_weight = np.array([d.population_m for d in DISTRICTS]) * np.where(core, CORE_WEIGHT, 1.0)
    per_district = allocate(n, district_weight, 0, n)
    district = np.repeat(np.arange(len(DISTRICTS), dtype=np.int64), per_district)
    lot_core = core[district]

    on_street = rng.random(n) < np.where(lot_core, ON_STREET_SHARE_CORE, ON_STREET_SHARE_OUTER)
    # Garages: a long right tail; kerbside segments: a few dozen bays at most, typically.
    size = np.where(
        on_street, rng.lognormal(math.log(35.0), 0.55, n), rng.lognormal(math.log(300.0), 0.85, n)
    )
    capacity = allocate(spec.berths, size, 1, MAX_CAPACITY)

    spread = np.where(lot_core, SPREAD_CORE_M, SPREAD_OUTER_M)
    centre_lon = np.array([d.lon for d in DISTRICTS])[district]
    centre_lat = np.array([d.lat for d in DISTRICTS])[district]
    east_m, north_m = rng.normal(0.0, 1.0, (2, n)) * spread
    lat = centre_lat + north_m / METRES_PER_DEGREE
    lon = centre_lon + east_m / (METRES_PER_DEGREE * np.cos(np.radians(centre_lat)))

    n_operators = max(1, round(n / 60))
    rank_weight = 1.0 / np.arange(1, n_operators + 1) ** 0.8
    operator = rng.choice(n_operators, n, p=rank_weight / rank_weight.sum())

    codec = np.where(
        on_street,
        rng.choice(len(CODECS), n, p=ON_STREET_CODEC_WEIGHTS),
        rng.choice(len(CODECS), n, p=OFF_STREET_CODEC_WEIGHTS),
    )
    surface_sensors = (rng.random(n) < SURFACE_SENSOR_SHARE) & (capacity <= SURFACE_SENSOR_MAX_CAPACITY)
    has_devices = on_street | (surface_sensors & (spec.berths <= DEVICE_MAP_BERTH_LIMIT))

    ev_share = np.where(on_street, rng.uniform(0.01, 0.04, n), rng.uniform(0.03, 0.10, n))
    accessible_share = rng.uniform(0.02, 0.05, n)
    ev = np.clip(np.rint(capacity * ev_share), 1, capacity).astype(np.int64)
    accessible = np.clip(np.rint(capacity * accessible_share), 1, capacity).astype(np.int64)

    street = rng.integers(0, len(STREETS), n)
    label = rng.integers(0, len(OFF_STREET_LABELS), n)
    first_of_district = np.cumsum(per_district) - per_district
    number = np.arange(n) - first_of_district[district] + 1
    names = [
        f"{DISTRICTS[d].name} {STREETS[s]} Road {'Kerbside' if kerb else OFF_STREET_LABELS[lab]} P{num}"
        for d, s, kerb, lab, num in zip(
            district.tolist(),
            street.tolist(),
            on_street.tolist(),
            label.tolist(),
            number.tolist(),
            strict=True,
        )
    ]
    addresses = [
        f"{STREETS[s]} Road {num}, {DISTRICTS[d].name}"
        f"{' District' if DISTRICTS[d].name_zh.endswith('区') else ''}, {CITY_NAME}"
        for d, s, num in zip(district.tolist(), street.tolist(), number.tolist(), strict=True)
    ]
    label = np.where(on_street, KERB, label)
    return _Lots(
        on_street, capacity, lon, lat, operator, codec, has_devices, ev, accessible, names, label, addresses
    )


def _bay_coordinates(lots: _Lots, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    """[lon, lat] per bay of every on-street lot (concatenated), and where each lot's bays start.

    Bays lie along a straight kerb through the lot's point, a few metres apart.
    """
    kerb = np.flatnonzero(lots.on_street)
    sizes = lots.capacity[kerb]
    heading = rng.uniform(0.0, math.pi, len(kerb))
    spacing = rng.uniform(*BAY_SPACING_M, len(kerb))
    starts = np.cumsum(sizes) - sizes

    owner = np.repeat(np.arange(len(kerb)), sizes)
    bay = np.arange(int(sizes.sum())) - starts[owner]
    row_length = np.minimum(sizes, BAYS_PER_ROW)[owner]
    along = (bay % BAYS_PER_ROW - (row_length - 1) / 2.0) * spacing[owner]
    across = (bay // BAYS_PER_ROW) * ROW_GAP_M
    east = along * np.cos(heading[owner]) - across * np.sin(heading[owner])
    north = along * np.sin(heading[owner]) + across * np.cos(heading[owner])
    lat0 = lots.lat[kerb][owner]
    lon = lots.lon[kerb][owner] + east / (METRES_PER_DEGREE * np.cos(np.radians(lat0)))
    lat = lat0 + north / METRES_PER_DEGREE
    coords: FloatArray = np.column_stack((lon, lat)).round(COORD_DECIMALS)
    first_bay = np.full(len(lots.capacity), -1, dtype=np.int64)  # -1: off-street, no bays listed
    first_bay[kerb] = starts
    return coords, first_bay


def _device_map(euis: list[str], codec: str, thresholds: IntArray | None) -> dict[str, Any]:
    if thresholds is None:
        return dict(zip(euis, range(len(euis)), strict=True))
    return {
        eui: {"berth": berth, "codec": codec, "threshold_mm": threshold}
        for berth, (eui, threshold) in enumerate(zip(euis, thresholds.tolist(), strict=True))
    }


def _features(spec: CitySpec, lots: _Lots, rng: np.random.Generator) -> list[dict[str, Any]]:
    coords, first_bay = _bay_coordinates(lots, rng)
    device_counts = np.where(lots.has_devices, lots.capacity, 0)
    device_starts = np.cumsum(device_counts) - device_counts
    euis = hex_euis(deveui_base(spec.prefix) + 1, int(device_counts.sum()))
    # Distance sensors need a threshold: roughly the ceiling height less a car's, per device.
    thresholds = rng.integers(120, 201, len(euis)) * 10

    facts_rng = np.random.default_rng([spec.seed, FACTS_STREAM])
    id_width = max(4, len(str(spec.lots)))
    op_width = max(2, len(str(int(lots.operator.max()) + 1)))
    rows = zip(
        lots.capacity.tolist(),
        lots.on_street.tolist(),
        np.round(lots.lon, COORD_DECIMALS).tolist(),
        np.round(lots.lat, COORD_DECIMALS).tolist(),
        lots.operator.tolist(),
        [CODECS[c] for c in lots.codec.tolist()],
        lots.ev.tolist(),
        lots.accessible.tolist(),
        lots.names,
        lots.label.tolist(),
        lots.addresses,
        strict=True,
    )
    features: list[dict[str, Any]] = []
    for i, (cap, kerb, lon, lat, operator, codec, n_ev, n_accessible, name, label, address) in enumerate(
        rows
    ):
        shape = Shape(label, cap, n_ev, n_accessible, lon, lat)
        facts, classes = lot_facts(facts_rng, shape, address)
        props: dict[str, Any] = {
            "id": f"{spec.prefix}-{i + 1:0{id_width}d}",
            "name": name,
            "operator": f"op-{operator + 1:0{op_width}d}",
            "kind": "on_street" if kerb else "off_street",
            "capacity": cap,
            # Chargers at the start of the row, accessible bays at the end (next to the exit).
            "features": {"ev": np.arange(n_ev), "accessible": np.arange(cap - n_accessible, cap)} | classes,
        }
        if kerb:
            props["berths"] = coords[first_bay[i] : first_bay[i] + cap]
        props["codec"] = codec
        if device_counts[i]:
            start = int(device_starts[i])
            lot_thresholds = thresholds[start : start + cap] if codec in DISTANCE_CODECS else None
            props["devices"] = _device_map(euis[start : start + cap], codec, lot_thresholds)
        props["heartbeat_s"] = HEARTBEAT_S[codec]
        props |= facts
        point = {"type": "Point", "coordinates": [lon, lat]}
        features.append({"type": "Feature", "geometry": point, "properties": props})
    return features


def generate_city(spec: CitySpec) -> list[dict[str, Any]]:
    """The registry's features (may hold numpy arrays; encode with `encode_city`)."""
    rng = np.random.default_rng(spec.seed)
    return _features(spec, _draw_lots(spec, rng), rng)


def encode_city(features: list[dict[str, Any]]) -> bytes:
    """A FeatureCollection, one feature per line so a committed registry diffs well."""
    lines = b",\n".join(orjson.dumps(f, option=orjson.OPT_SERIALIZE_NUMPY) for f in features)
    return b'{"type":"FeatureCollection","features":[\n' + lines + b"\n]}\n"


def write_city(spec: CitySpec, path: Path) -> int:
    """Write the registry to `path`; returns its size in bytes."""
    data = encode_city(generate_city(spec))
    path.write_bytes(data)
    return len(data)
