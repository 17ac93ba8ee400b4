"""The city as arrays: lots in id order, and every berth of every lot in one flat run."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parking_hub.arrays import BoolArray, FloatArray, IntArray
from parking_hub.lot_facts import ACCESS
from parking_hub.query.geo import distances_m, unit_vectors
from parking_hub.query.grid import Grid
from parking_hub.query.ranges import expand_ranges
from parking_hub.registry import FEATURES, VEHICLE_CLASSES, Lot
from parking_hub.store.layout import Layout

CAR = "car"  # a berth under no vehicle class


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
    """Immutable once built; a registry change builds a new one. Lot i's berths are berth
    positions layout.offsets[i] .. layout.offsets[i] + layout.capacity[i] - 1 in every flat array."""

    lots: tuple[Lot, ...]
    layout: Layout  # the lots' positions, capacities, berth offsets and staleness, as ingest has them
    lat: FloatArray
    lon: FloatArray
    xyz: FloatArray
    grid: Grid
    xyz_by_cell: FloatArray  # xyz in grid order, so a grid run is a slice of it
    bays: BayPoints
    on_street: BoolArray
    # Per combination of feature names (and "car") but (): berths having all; filled as asked.
    feature_masks: dict[tuple[str, ...], BoolArray]
    # Where vehicles get in: each lot's entrances, or its point where it lists none, in grid order.
    doors: Grid
    door_lot: IntArray  # the lot of each door, in the doors' grid order
    door_xyz: FloatArray  # in the doors' grid order
    max_height_m: FloatArray  # inf where unknown
    access_bit: IntArray  # 1 << the lot's access value's place in ACCESS
    per_hour: FloatArray  # NaN where unknown

    @classmethod
    def build(cls, lots: Sequence[Lot], layout: Layout | None = None) -> CityIndex:
        """`layout`: the registry view's, of the same lots; built here when not given."""
        ordered = tuple(sorted(lots, key=lambda lot: lot.id))
        layout = Layout.of(ordered) if layout is None else layout
        lat = np.array([lot.lat for lot in ordered], dtype=np.float64)
        lon = np.array([lot.lon for lot in ordered], dtype=np.float64)
        xyz = unit_vectors(lat, lon)
        grid = Grid.build(lat, lon)
        door_points = [lot.facts.entrances or ((lot.lon, lot.lat),) for lot in ordered]
        door_lot = np.repeat(np.arange(len(ordered), dtype=np.int64), [len(d) for d in door_points])
        door_lonlat = np.array([p for points in door_points for p in points], dtype=np.float64).reshape(-1, 2)
        doors = Grid.build(door_lonlat[:, 1], door_lonlat[:, 0])
        fees = [lot.facts.fee for lot in ordered]
        return cls(
            lots=ordered,
            layout=layout,
            lat=lat,
            lon=lon,
            xyz=xyz,
            grid=grid,
            xyz_by_cell=xyz[grid.order],
            bays=BayPoints.build(ordered, xyz),
            on_street=np.array([lot.kind == "on_street" for lot in ordered], dtype=bool),
            feature_masks=_feature_masks(ordered, layout.offsets, layout.berth_count),
            doors=doors,
            door_lot=door_lot[doors.order],
            door_xyz=unit_vectors(door_lonlat[:, 1], door_lonlat[:, 0])[doors.order],
            max_height_m=np.array(
                [math.inf if lot.facts.max_height_m is None else lot.facts.max_height_m for lot in ordered],
                dtype=np.float64,
            ),
            access_bit=np.array([1 << ACCESS.index(lot.facts.access) for lot in ordered], dtype=np.int64),
            per_hour=np.array(
                [math.nan if fee is None or fee.per_hour is None else fee.per_hour for fee in fees],
                dtype=np.float64,
            ),
        )

    @property
    def max_extent_m(self) -> float:
        return float(self.bays.extent_m.max(initial=0.0))

    def berths_of(self, positions: IntArray) -> tuple[IntArray, IntArray]:
        """Flat berth positions of the lots given, lot by lot, and for each the index into `positions`."""
        starts = self.layout.offsets[positions]
        return expand_ranges(starts, starts + self.layout.capacity[positions])

    def positions_of(self, lot_ids: Sequence[str]) -> IntArray:
        return np.array(sorted(self.layout.position[lot_id] for lot_id in lot_ids), dtype=np.int64)

    def ids_up_to(self, lot_id: str) -> int:
        """How many lot ids sort before lot_id or equal it (lots are kept in id order)."""
        return bisect.bisect_right(self.lots, lot_id, key=lambda lot: lot.id)

    def features_mask(self, features: Sequence[str]) -> BoolArray | None:
        """Berths that have every feature named ("car": under no vehicle class), or None when no
        feature is asked for."""
        if not features:
            return None
        key = tuple(sorted(set(features)))
        mask = self.feature_masks.get(key)
        if mask is None:
            mask = np.logical_and.reduce([self.feature_masks[(name,)] for name in key])
            self.feature_masks[key] = mask
        return mask


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
    single[CAR] = ~np.logical_or.reduce([single[name] for name in VEHICLE_CLASSES])
    return {(name,): mask for name, mask in single.items()}
