"""The simulator's own reading of a lot registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sensors_sim.city import CODECS
from sensors_sim.registry import RegistryError, load_registry
from tests.unit.simcity import codec_city, feature, generated_city, write_features


def lot(**props: Any) -> dict[str, Any]:
    return feature({"kind": "off_street", **props})


def test_a_generated_city_as_per_berth_arrays(tmp_path: Path) -> None:
    _, registry = generated_city(tmp_path, lots=30, berths=4_000, seed=2)
    assert len(registry.lot_ids) == 30
    assert registry.berths == 4_000
    assert registry.offsets[-1] == 4_000 - registry.capacity[-1]
    assert len(registry.codec) == len(registry.device) == len(registry.threshold_mm) == 4_000
    with_device = registry.device >= 0
    assert with_device.any()
    assert len(registry.device_keys) == int(with_device.sum())
    assert registry.features["ev"].sum() >= 30


def test_devices_codecs_and_thresholds_per_berth(tmp_path: Path) -> None:
    _, registry = codec_city(tmp_path, capacity=4)
    assert registry.codec.tolist() == [i for i in range(len(CODECS)) for _ in range(4)]
    assert sorted(registry.device.tolist()) == list(range(len(CODECS) * 4))
    distance = [CODECS.index("milesight-em400"), CODECS.index("dragino-ldds75")]
    assert set(registry.threshold_mm[(registry.codec == distance[0]) | (registry.codec == distance[1])]) == {
        1500
    }
    assert set(registry.threshold_mm[(registry.codec != distance[0]) & (registry.codec != distance[1])]) == {
        0
    }
    assert registry.features["accessible"].reshape(len(CODECS), 4)[:, 3].all()


def test_device_codec_overrides_the_lot_codec_and_a_second_device_is_ignored(tmp_path: Path) -> None:
    devices = {"a": 0, "b": {"berth": 1, "codec": "tekzipark"}, "c": 1}
    registry = load_registry(
        write_features(tmp_path / "r.geojson", [lot(id="x", capacity=3, codec="bosch-pls", devices=devices)])
    )
    assert [CODECS[c] for c in registry.codec] == ["bosch-pls", "tekzipark", "bosch-pls"]
    assert registry.device.tolist() == [0, 1, -1]
    assert registry.device_keys == ["a", "b"]


@pytest.mark.parametrize(
    ("features", "reason"),
    [
        ([lot(id="A!", capacity=3)], r"feature 0: id"),
        ([lot(id="a", capacity=3), lot(id="b", capacity=0)], r"feature 1: capacity"),
        ([lot(id="a", capacity=True)], r"feature 0: capacity"),
        ([lot(id="a", capacity=2, heartbeat_s=-5)], r"feature 0: heartbeat_s"),
        ([lot(id="a", capacity=2, kind="garage")], r"feature 0: kind"),
        ([lot(id="a", capacity=2, codec="zigbee")], r"feature 0: codec"),
        ([lot(id="a", capacity=2, devices={"d": 2})], r"devices.d: berth"),
        ([lot(id="a", capacity=2, devices={"d": {"berth": 0, "codec": "dragino-ldds75"}})], r"threshold_mm"),
        ([lot(id="a", capacity=2, features={"ev": [5]})], r"features.ev"),
        ([lot(id="a", capacity=2, features={"truck": [2]})], r"features.truck"),
        ([lot(id="a", capacity=2, entrances=[[1.0]])], r"feature 0: entrances"),
        ([lot(id="a", capacity=2), lot(id="a", capacity=2)], r"not unique"),
        ([{"type": "Feature"}], r"feature 0: properties"),
        ([{"type": "Feature", "properties": {"id": "a"}}], r"feature 0: geometry"),
        ([], r"FeatureCollection"),
    ],
)
def test_names_what_is_wrong(tmp_path: Path, features: list[Any], reason: str) -> None:
    with pytest.raises(RegistryError, match=reason):
        load_registry(write_features(tmp_path / "r.geojson", features))


def test_car_berths_and_the_door_to_ask_at(tmp_path: Path) -> None:
    features = [
        lot(id="a", capacity=4, features={"truck": [1], "bus": [3], "ev": [0]}, entrances=[[120.5, 36.2]]),
        lot(id="b", capacity=2),
    ]
    registry = load_registry(write_features(tmp_path / "r.geojson", features))
    assert registry.car.tolist() == [True, False, True, False, True, True]
    assert (registry.door_lon[0], registry.door_lat[0]) == (120.5, 36.2)
    assert (registry.door_lon[1], registry.door_lat[1]) == (registry.lon[1], registry.lat[1])


def test_refuses_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "missing.geojson")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RegistryError, match="not JSON"):
        load_registry(tmp_path / "bad.json")
