"""The registry's LoRaWAN devices, indexed for lookup by network-server device id or DevEUI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from parking_hub.registry import Lot


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    lot: str
    berth: int
    codec: str | None
    threshold_mm: int | None


class DeviceIndex:
    """Device id or DevEUI, any case, to the lot and berth it reports for.

    Keys that differ only in case name one device: the first lot in registry order keeps it.
    """

    def __init__(self, lots: Iterable[Lot]) -> None:
        self._entries: dict[str, DeviceEntry] = {}
        for lot in lots:
            for key, device in lot.devices.items():
                entry = DeviceEntry(lot.id, device.berth, device.codec, device.threshold_mm)
                self._entries.setdefault(key.casefold(), entry)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> DeviceEntry | None:
        return self._entries.get(key.casefold())

    def find(self, keys: Iterable[str]) -> tuple[str, DeviceEntry] | None:
        """The first of `keys` the registry knows, with its entry."""
        for key in keys:
            entry = self.get(key)
            if entry is not None:
                return key, entry
        return None
