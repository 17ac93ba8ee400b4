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


def test_the_seed_city_carries_the_facts_a_driver_needs() -> None:
    lots = read_registry(SEED_FILE)
    assert {lot.facts.timezone for lot in lots} == {"Asia/Shanghai"}
    hours = [lot.facts.opening_hours for lot in lots]
    assert hours.count("24/7") > len(lots) / 2
    assert sum(1 for text in hours if text != "24/7") >= 20  # malls and offices keep hours
    underground = [lot for lot in lots if "Underground" in lot.name]
    assert underground
    assert all(lot.facts.max_height_m in {2.0, 2.1, 2.2} for lot in underground)
    fees = [lot.facts.fee for lot in lots if lot.facts.fee is not None]
    assert {fee.currency for fee in fees if fee.per_hour is not None} == {"CNY"}
    assert {lot.facts.access for lot in lots} == {"public", "customers", "residents", "permit"}
    for vehicle in ("truck", "bus", "motorcycle"):
        assert sum(len(lot.features.get(vehicle, ())) for lot in lots) > 0, vehicle
    assert all(lot.facts.entrances for lot in lots if lot.kind == "off_street")
