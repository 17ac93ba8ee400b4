"""The city generator: exact totals, determinism and a registry that follows contract section 2."""

import itertools
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors_sim import city
from sensors_sim.city import (
    CODECS,
    DISTANCE_CODECS,
    MAX_CAPACITY,
    CitySpec,
    allocate,
    encode_city,
    generate_city,
    hex_euis,
)
from sensors_sim.cli import main
from sensors_sim.districts import DISTRICTS

LOT_ID = re.compile(r"[a-z0-9_-]{1,64}")
DEVEUI = re.compile(r"[0-9A-Fa-f]{16}")


def registry(spec: CitySpec) -> list[dict[str, Any]]:
    """The generated registry as a client reads it: parsed from the encoded bytes."""
    doc = orjson.loads(encode_city(generate_city(spec)))
    assert doc["type"] == "FeatureCollection"
    features: list[dict[str, Any]] = doc["features"]
    return features


@pytest.fixture(scope="module")
def seed_city() -> list[dict[str, Any]]:
    return registry(CitySpec())


def metres(a: list[float], b: list[float]) -> float:
    """Flat-earth distance between two [lon, lat] points, good enough over a few hundred metres."""
    north = (a[1] - b[1]) * 111_320.0
    east = (a[0] - b[0]) * 111_320.0 * math.cos(math.radians(a[1]))
    return math.hypot(north, east)


def test_seed_city_has_706_lots_and_188000_berths(seed_city: list[dict[str, Any]]) -> None:
    assert len(seed_city) == 706
    assert sum(f["properties"]["capacity"] for f in seed_city) == 188_000


def test_seed_city_lies_around_qingdao(seed_city: list[dict[str, Any]]) -> None:
    points = np.array([f["geometry"]["coordinates"] for f in seed_city])
    assert all(f["type"] == "Feature" and f["geometry"]["type"] == "Point" for f in seed_city)
    assert np.all((points[:, 0] > 119.5) & (points[:, 0] < 121.0))
    assert np.all((points[:, 1] > 35.5) & (points[:, 1] < 37.3))
    core = np.hypot(points[:, 0] - 120.38, points[:, 1] - 36.07) < 0.12
    assert core.mean() > 0.4  # the old urban core holds the densest share


def test_same_seed_gives_identical_bytes() -> None:
    assert encode_city(generate_city(CitySpec())) == encode_city(generate_city(CitySpec()))
    assert encode_city(generate_city(CitySpec(seed=2))) != encode_city(generate_city(CitySpec()))


def test_ids_are_valid_and_unique(seed_city: list[dict[str, Any]]) -> None:
    ids = [f["properties"]["id"] for f in seed_city]
    assert all(LOT_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids[0] == "qd-0001"


def test_every_lot_has_the_registry_fields(seed_city: list[dict[str, Any]]) -> None:
    for feature in seed_city:
        props = feature["properties"]
        assert props["kind"] in {"on_street", "off_street"}
        assert 1 <= props["capacity"] <= MAX_CAPACITY
        assert props["codec"] in CODECS
        assert isinstance(props["heartbeat_s"], int)
        assert props["heartbeat_s"] > 0
        assert re.fullmatch(r"op-\d{2,}", props["operator"])
        assert props["name"].split()[0] in {d.name for d in DISTRICTS}
    kinds = {f["properties"]["kind"] for f in seed_city}
    assert kinds == {"on_street", "off_street"}


def test_off_street_lots_are_larger_with_a_long_tail(seed_city: list[dict[str, Any]]) -> None:
    def sizes(kind: str) -> np.ndarray[Any, np.dtype[np.int64]]:
        return np.array([f["properties"]["capacity"] for f in seed_city if f["properties"]["kind"] == kind])

    off, kerb = sizes("off_street"), sizes("on_street")
    assert np.median(off) > 3 * np.median(kerb)
    assert off.max() > 5 * np.median(off)


def test_on_street_bays_follow_a_kerb(seed_city: list[dict[str, Any]]) -> None:
    for feature in seed_city:
        props = feature["properties"]
        if props["kind"] != "on_street":
            assert "berths" not in props
            continue
        bays = props["berths"]
        assert len(bays) == props["capacity"]
        assert all(len(bay) == 2 for bay in bays)
        first_row = bays[: min(len(bays), city.BAYS_PER_ROW)]
        gaps = [metres(a, b) for a, b in itertools.pairwise(first_row)]
        assert all(4.5 < gap < 7.5 for gap in gaps)  # a few metres apart, after 6-decimal rounding
        assert metres(bays[0], feature["geometry"]["coordinates"]) < 400


def test_features_are_plausible_berth_lists(seed_city: list[dict[str, Any]]) -> None:
    ev_total = accessible_total = 0
    for feature in seed_city:
        props = feature["properties"]
        cap = props["capacity"]
        for name in ("ev", "accessible"):
            berths = props["features"][name]
            assert berths, f"{props['id']} has no {name} berths"
            assert berths == sorted(set(berths))
            assert berths[0] >= 0
            assert berths[-1] < cap
        ev_total += len(props["features"]["ev"])
        accessible_total += len(props["features"]["accessible"])
    assert 0.01 < ev_total / 188_000 < 0.12
    assert 0.01 < accessible_total / 188_000 < 0.06


def test_devices_are_unique_and_map_every_berth_once(seed_city: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for feature in seed_city:
        props = feature["properties"]
        devices = props.get("devices")
        if devices is None:
            assert props["kind"] == "off_street"
            continue
        berths = []
        for eui, target in devices.items():
            assert DEVEUI.fullmatch(eui)
            if props["codec"] in DISTANCE_CODECS:
                assert target["codec"] == props["codec"]
                assert isinstance(target["threshold_mm"], int)
                assert 500 <= target["threshold_mm"] <= 4000
                berths.append(target["berth"])
            else:
                berths.append(target)
        assert sorted(berths) == list(range(props["capacity"]))
        assert seen.isdisjoint(devices)
        seen.update(devices)
    assert len(seen) > 10_000


def test_big_cities_keep_device_maps_on_street_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(city, "DEVICE_MAP_BERTH_LIMIT", 1_000)
    for feature in registry(CitySpec(lots=200, berths=20_000)):
        props = feature["properties"]
        assert ("devices" in props) == (props["kind"] == "on_street")


@pytest.mark.parametrize(
    ("lots", "berths"), [(1, 1), (1, MAX_CAPACITY), (3, 3 * MAX_CAPACITY), (50, 50), (97, 12_345)]
)
def test_capacities_sum_exactly_within_bounds(lots: int, berths: int) -> None:
    features = registry(CitySpec(lots=lots, berths=berths, seed=7))
    caps = [f["properties"]["capacity"] for f in features]
    assert len(caps) == lots
    assert sum(caps) == berths
    assert all(1 <= c <= MAX_CAPACITY for c in caps)


@pytest.mark.parametrize(
    ("lots", "berths", "seed"), [(0, 10, 1), (10, 9, 1), (2, 2 * MAX_CAPACITY + 1, 1), (5, 50, -1)]
)
def test_impossible_specs_are_refused(lots: int, berths: int, seed: int) -> None:
    with pytest.raises(ValueError, match=r"lots|berths|seed"):
        CitySpec(lots=lots, berths=berths, seed=seed)


@given(
    weights=st.lists(st.floats(min_value=1e-3, max_value=1e6), min_size=1, max_size=60),
    data=st.data(),
)
def test_allocate_is_exact_and_bounded(weights: list[float], data: st.DataObject) -> None:
    low = data.draw(st.integers(0, 3))
    high = data.draw(st.integers(low, 500))
    total = data.draw(st.integers(len(weights) * low, len(weights) * high))
    parts = allocate(total, np.array(weights), low, high)
    assert int(parts.sum()) == total
    assert parts.min() >= low
    assert parts.max() <= high


def test_hex_euis_are_16_upper_case_digits() -> None:
    assert hex_euis(0xAB, 2) == ["00000000000000AB", "00000000000000AC"]
    assert hex_euis(0x0251_4400_0000_0000, 1) == ["0251440000000000"]
    assert hex_euis(1, 0) == []


def test_cli_writes_the_registry(tmp_path: Path) -> None:
    out = tmp_path / "city.geojson"
    assert main(["city", "-o", str(out), "--lots", "12", "--berths", "900", "--seed", "4"]) == 0
    features = orjson.loads(out.read_bytes())["features"]
    assert sum(f["properties"]["capacity"] for f in features) == 900


def test_cli_refuses_bad_arguments_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["city", "-o", str(tmp_path / "x"), "--lots", "10", "--berths", "5"]) == 2
    assert main(["city", "-o", str(tmp_path / "missing" / "x")]) == 2
    with pytest.raises(SystemExit) as exited:
        main(["city", "-o", str(tmp_path / "x"), "--lots", "many"])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert all(line.startswith("sensors-sim") for line in lines)
