"""Small registries for the simulator's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensors_sim.city import CODECS, DISTANCE_CODECS, CitySpec, write_city
from sensors_sim.registry import Registry, load_registry
from tests.registry_check import registry_bytes


def feature(props: dict[str, Any], lon: float = 120.4, lat: float = 36.1) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def write_features(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_bytes(registry_bytes(features))
    return path


def codec_lots(capacity: int = 8, heartbeat_s: int = 3600) -> list[dict[str, Any]]:
    """One on-street lot per codec, every berth with its own device (DevEUI keys)."""
    lots = []
    for i, codec in enumerate(CODECS):
        devices: dict[str, Any] = {}
        for berth in range(capacity):
            eui = f"70B3D57ED{i:03X}{berth:04X}"
            devices[eui] = {"berth": berth, "threshold_mm": 1500} if codec in DISTANCE_CODECS else berth
        props = {
            "id": f"codec-{i}",
            "kind": "on_street",
            "capacity": capacity,
            "codec": codec,
            "devices": devices,
            "heartbeat_s": heartbeat_s,
            "features": {"ev": [0, 1], "accessible": [capacity - 1]},
        }
        lots.append(feature(props, 120.4 + i * 0.01))
    return lots


def codec_city(tmp_path: Path, **kwargs: Any) -> tuple[Path, Registry]:
    path = write_features(tmp_path / "codecs.geojson", codec_lots(**kwargs))
    return path, load_registry(path)


def generated_city(
    tmp_path: Path, lots: int = 30, berths: int = 3000, seed: int = 4
) -> tuple[Path, Registry]:
    path = tmp_path / "city.geojson"
    write_city(CitySpec(lots=lots, berths=berths, seed=seed), path)
    return path, load_registry(path)
