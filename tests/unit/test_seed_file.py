"""The checked-in seed city is exactly what the generator writes by default, and the hub accepts it."""

from __future__ import annotations

from pathlib import Path

from parking_hub.registry import read_registry
from sensors_sim.city import CitySpec, encode_city, generate_city

SEED_FILE = Path(__file__).resolve().parents[2] / "seeds" / "qingdao.geojson"


def test_seed_file_is_the_default_city() -> None:
    assert encode_city(generate_city(CitySpec())) == SEED_FILE.read_bytes()


def test_the_hub_loads_the_seed_city() -> None:
    lots = read_registry(SEED_FILE)
    assert len(lots) == 706
    assert sum(lot.capacity for lot in lots) == 188_000
    kinds = {lot.kind for lot in lots}
    assert kinds == {"off_street", "on_street"}
    assert all(lot.berths is not None for lot in lots if lot.kind == "on_street")
    assert sum(len(lot.features.get("ev", ())) for lot in lots) > 0
    assert sum(len(lot.features.get("accessible", ())) for lot in lots) > 0
    assert sum(len(lot.devices) for lot in lots) > 0
