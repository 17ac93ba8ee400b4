"""The city as arrays: lots in id order, and every berth of every lot in one flat run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parking_hub.registry import FEATURES, Lot

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class CityIndex:
    """Immutable once built; a registry change builds a new one. Lot i's berths are
    berth positions offsets[i] .. offsets[i] + capacity[i] - 1 in every flat array."""

    lots: tuple[Lot, ...]
    position: dict[str, int]
    lat: FloatArray
    lon: FloatArray
    capacity: IntArray
    on_street: BoolArray
    stale_after_ms: IntArray  # per lot: 3 * heartbeat_s, in ms
    offsets: IntArray
    lot_of_berth: IntArray
    feature_masks: dict[tuple[str, ...], BoolArray]  # per sorted feature combination: berths having all

    @classmethod
    def build(cls, lots: Sequence[Lot]) -> CityIndex:
        ordered = tuple(sorted(lots, key=lambda lot: lot.id))
        capacity = np.array([lot.capacity for lot in ordered], dtype=np.int64)
        offsets = np.zeros(len(ordered), dtype=np.int64)
        if ordered:
            offsets[1:] = np.cumsum(capacity)[:-1]
        total = int(capacity.sum())
        single = {}
        for name in FEATURES:
            mask = np.zeros(total, dtype=bool)
            for i, lot in enumerate(ordered):
                berths = lot.features.get(name)
                if berths:
                    mask[offsets[i] + np.asarray(berths, dtype=np.int64)] = True
            single[name] = mask
        masks: dict[tuple[str, ...], BoolArray] = {(name,): mask for name, mask in single.items()}
        masks[tuple(sorted(FEATURES))] = np.logical_and.reduce(list(single.values()))
        return cls(
            lots=ordered,
            position={lot.id: i for i, lot in enumerate(ordered)},
            lat=np.array([lot.lat for lot in ordered], dtype=np.float64),
            lon=np.array([lot.lon for lot in ordered], dtype=np.float64),
            capacity=capacity,
            on_street=np.array([lot.kind == "on_street" for lot in ordered], dtype=bool),
            stale_after_ms=np.array([3 * lot.heartbeat_s * 1000 for lot in ordered], dtype=np.int64),
            offsets=offsets,
            lot_of_berth=np.repeat(np.arange(len(ordered), dtype=np.int64), capacity),
            feature_masks=masks,
        )

    @property
    def berth_count(self) -> int:
        return len(self.lot_of_berth)

    def span(self, i: int) -> slice:
        start = int(self.offsets[i])
        return slice(start, start + int(self.capacity[i]))

    def features_mask(self, features: Sequence[str]) -> BoolArray | None:
        """Berths that have every feature named, or None when no feature is asked for."""
        if not features:
            return None
        return self.feature_masks[tuple(sorted(set(features)))]
