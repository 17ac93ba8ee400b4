"""The city as arrays: lots in id order, and every berth of every lot in one flat run."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parking_hub.query.geo import FloatArray, distances_m, unit_vectors
from parking_hub.query.grid import Grid
from parking_hub.query.ranges import IntArray, expand_ranges
from parking_hub.registry import FEATURES, Lot

BoolArray = npt.NDArray[np.bool_]
# Every feature combination a query can ask for, each as a sorted tuple.
FEATURE_COMBOS: tuple[tuple[str, ...], ...] = (
    (),
    *((name,) for name in sorted(FEATURES)),
    tuple(sorted(FEATURES)),
)


@dataclass(frozen=True, slots=True, eq=False)
class BayPoints:
    """Per-berth coordinates, for the lots whose registry lists them (on-street bays).

    Lot i's bays are rows first[i] .. first[i] + capacity[i] - 1; first[i] is -1 for a lot without.
    """

    first: IntArray
    lat: FloatArray
    lon: FloatArray
    xyz: FloatArray
    extent_m: FloatArray  # per lot: how far its farthest bay is from the lot's point; 0 without bays

    @classmethod
    def build(cls, lots: Sequence[Lot], lot_xyz: FloatArray) -> BayPoints:
        with_bays = np.array([i for i, lot in enumerate(lots) if lot.berths is not None], dtype=np.int64)
        sizes = np.array([lots[i].capacity for i in with_bays], dtype=np.int64)
        first = np.full(len(lots), -1, dtype=np.int64)
        first[with_bays] = np.cumsum(sizes) - sizes
        points = np.array([p for i in with_bays for p in lots[i].berths or ()], dtype=np.float64)
        points = points.reshape(-1, 2)
        lat, lon = points[:, 1].copy(), points[:, 0].copy()
        xyz = unit_vectors(lat, lon)
        owner = np.repeat(with_bays, sizes)
        extent = np.zeros(len(lots), dtype=np.float64)
        np.maximum.at(extent, owner, distances_m(lot_xyz[owner], xyz))
        return cls(first=first, lat=lat, lon=lon, xyz=xyz, extent_m=extent)


@dataclass(frozen=True, slots=True, eq=False)
class CityIndex:
    """Immutable once built; a registry change builds a new one. Lot i's berths are
    berth positions offsets[i] .. offsets[i] + capacity[i] - 1 in every flat array."""

    lots: tuple[Lot, ...]
    position: dict[str, int]
    lat: FloatArray
    lon: FloatArray
    xyz: FloatArray
    grid: Grid
    xyz_by_cell: FloatArray  # xyz in grid order, so a grid run is a slice of it
    bays: BayPoints
    capacity: IntArray
    on_street: BoolArray
    stale_after_ms: IntArray  # per lot: 3 * heartbeat_s, in ms
    offsets: IntArray
    feature_masks: dict[tuple[str, ...], BoolArray]  # per combination but (): berths having all

    @classmethod
    def build(cls, lots: Sequence[Lot]) -> CityIndex:
        ordered = tuple(sorted(lots, key=lambda lot: lot.id))
        capacity = np.array([lot.capacity for lot in ordered], dtype=np.int64)
        offsets = np.cumsum(capacity) - capacity
        lat = np.array([lot.lat for lot in ordered], dtype=np.float64)
        lon = np.array([lot.lon for lot in ordered], dtype=np.float64)
        xyz = unit_vectors(lat, lon)
        grid = Grid.build(lat, lon)
        return cls(
            lots=ordered,
            position={lot.id: i for i, lot in enumerate(ordered)},
            lat=lat,
            lon=lon,
            xyz=xyz,
            grid=grid,
            xyz_by_cell=xyz[grid.order],
            bays=BayPoints.build(ordered, xyz),
            capacity=capacity,
            on_street=np.array([lot.kind == "on_street" for lot in ordered], dtype=bool),
            stale_after_ms=np.array([3 * lot.heartbeat_s * 1000 for lot in ordered], dtype=np.int64),
            offsets=offsets,
            feature_masks=_feature_masks(ordered, offsets, int(capacity.sum())),
        )

    @property
    def berth_count(self) -> int:
        return int(self.capacity.sum())

    @property
    def max_extent_m(self) -> float:
        return float(self.bays.extent_m.max(initial=0.0))

    def span(self, i: int) -> slice:
        start = int(self.offsets[i])
        return slice(start, start + int(self.capacity[i]))

    def berths_of(self, positions: IntArray) -> tuple[IntArray, IntArray]:
        """Flat berth positions of the lots given, lot by lot, and for each the index into `positions`."""
        starts = self.offsets[positions]
        return expand_ranges(starts, starts + self.capacity[positions])

    def positions_of(self, lot_ids: Sequence[str]) -> IntArray:
        return np.array(sorted(self.position[lot_id] for lot_id in lot_ids), dtype=np.int64)

    def ids_up_to(self, lot_id: str) -> int:
        """How many lot ids sort before lot_id or equal it (lots are kept in id order)."""
        return bisect.bisect_right(self.lots, lot_id, key=lambda lot: lot.id)

    def features_mask(self, features: Sequence[str]) -> BoolArray | None:
        """Berths that have every feature named, or None when no feature is asked for."""
        if not features:
            return None
        return self.feature_masks[tuple(sorted(set(features)))]


def _feature_masks(lots: Sequence[Lot], offsets: IntArray, total: int) -> dict[tuple[str, ...], BoolArray]:
    single: dict[str, BoolArray] = {}
    for name in FEATURES:
        listed = [
            offsets[i] + np.asarray(lot.features[name], dtype=np.int64)
            for i, lot in enumerate(lots)
            if lot.features.get(name)
        ]
        mask = np.zeros(total, dtype=bool)
        if listed:
            mask[np.concatenate(listed)] = True
        single[name] = mask
    masks: dict[tuple[str, ...], BoolArray] = {(name,): mask for name, mask in single.items()}
    masks[tuple(sorted(FEATURES))] = np.logical_and.reduce(list(single.values()))
    return masks
