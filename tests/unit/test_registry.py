"""Registry validation: precise errors (feature index, field, reason), nothing loaded from a bad file."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from parking_hub.registry import MAX_REPORTED_ERRORS, RegistryError, check_devices_unclaimed, parse_registry

GOOD: dict[str, Any] = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [120.3826, 36.0671]},
    "properties": {
        "id": "qd-0001",
        "name": "Taidong Walking Street P1",
        "operator": "op-07",
        "kind": "on_street",
        "capacity": 3,
        "features": {"ev": [0, 1], "accessible": [2]},
        "berths": [[120.38251, 36.06702], [120.38255, 36.06702], [120.38259, 36.06702]],
        "codec": "nwave-nps405",
        "devices": {
            "70b3d57ed0000001": 0,
            "nps-qd-0001-001": {"berth": 1, "codec": "bosch-pls"},
            "ldds-1": {"berth": 2, "codec": "dragino-ldds75", "threshold_mm": 1200},
        },
        "heartbeat_s": 10800,
    },
}


def collection(*features: Any) -> bytes:
    return orjson.dumps({"type": "FeatureCollection", "features": list(features)})


def with_props(**changes: Any) -> dict[str, Any]:
    feature = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            feature["properties"].pop(key)
        else:
            feature["properties"][key] = value
    return feature


def test_a_full_lot_loads_with_every_field() -> None:
    (lot,) = parse_registry(collection(GOOD))
    assert (lot.id, lot.kind, lot.capacity, lot.heartbeat_s) == ("qd-0001", "on_street", 3, 10800)
    assert (lot.lon, lot.lat) == (120.3826, 36.0671)
    assert lot.features == {"ev": (0, 1), "accessible": (2,)}
    assert lot.berths is not None
    assert len(lot.berths) == 3
    assert lot.devices["70B3D57ED0000001"].berth == 0  # DevEUIs are normalised to upper case
    assert lot.devices["70B3D57ED0000001"].codec == "nwave-nps405"  # the lot's codec by default
    assert lot.devices["nps-qd-0001-001"].codec == "bosch-pls"
    assert lot.devices["ldds-1"].threshold_mm == 1200


def test_optional_fields_take_their_defaults() -> None:
    feature = with_props(features=None, berths=None, codec=None, devices=None, heartbeat_s=None, name=None)
    (lot,) = parse_registry(collection(feature))
    assert lot.heartbeat_s == 3600
    assert lot.name == "qd-0001"
    assert lot.berths is None
    assert not lot.features
    assert not lot.devices


# Lots the loader refuses: the field it names and a piece of its reason.
REFUSED = [
    (with_props(id="QD 1"), "id", "must match"),
    (with_props(kind="garage"), "kind", "off_street or on_street"),
    (with_props(capacity=0), "capacity", "between 1 and 100000"),
    (with_props(capacity=True), "capacity", "between 1 and 100000"),
    (with_props(capacity=100_001), "capacity", "between 1 and 100000"),
    (with_props(features={"ev": [3]}), "features.ev", "berth 3 is outside 0..2"),
    (with_props(features={"valet": [0]}), "features.valet", "unknown feature"),
    (with_props(features={"ev": [0, 0]}), "features.ev", "lists a berth twice"),
    (with_props(berths=[[120.0, 36.0]]), "berths", "must list 3"),
    (with_props(berths=[[120.0, 36.0], [120.0, 36.0], [200.0, 36.0]]), "berths[2]", "longitude 200.0"),
    (with_props(codec="acme"), "codec", "unknown codec 'acme'"),
    (with_props(devices={"dev-1": 7}), "devices.dev-1", "berth 7 is outside"),
    (with_props(devices={"bad id!": 0}), "devices.bad id!", "DevEUI"),
    (
        with_props(devices={"em-1": {"berth": 0, "codec": "milesight-em400"}}),
        "devices.em-1.threshold_mm",
        "required",
    ),
    (with_props(heartbeat_s=0), "heartbeat_s", "between 1 and"),
    (with_props(name=""), "name", "1 to 256"),
    ({**GOOD, "geometry": {"type": "Polygon", "coordinates": []}}, "geometry", "GeoJSON Point"),
    (
        {**GOOD, "geometry": {"type": "Point", "coordinates": [120.0, 89.0]}},
        "geometry.coordinates",
        "latitude",
    ),
    ({**GOOD, "type": "Thing"}, "type", '"Feature"'),
]


@pytest.mark.parametrize(("feature", "field", "reason"), REFUSED)
def test_errors_name_the_feature_field_and_reason(feature: dict[str, Any], field: str, reason: str) -> None:
    other = with_props(id="qd-0000", devices=None)
    with pytest.raises(RegistryError) as info:
        parse_registry(collection(other, feature), "city.geojson")
    message = str(info.value)
    assert message.startswith(f"city.geojson: feature 1: {field}: "), message
    assert reason in message


@pytest.mark.parametrize("field", ["id", "kind", "capacity"])
def test_a_missing_required_field_says_it_is_missing(field: str) -> None:
    feature = with_props(**{field: None})
    with pytest.raises(RegistryError) as info:
        parse_registry(collection(feature), "city.geojson")
    assert str(info.value) == f"city.geojson: feature 0: {field}: is missing"


def test_every_error_in_a_file_is_reported_up_to_a_limit() -> None:
    bad = [with_props(id=f"lot-{i}", capacity=0, devices=None) for i in range(3)]
    with pytest.raises(RegistryError) as info:
        parse_registry(collection(GOOD, *bad), "city.geojson")
    assert str(info.value).splitlines() == [
        f"city.geojson: feature {i}: capacity: must be an integer between 1 and 100000" for i in (1, 2, 3)
    ]
    many = [with_props(id=f"lot-{i}", kind="garage", devices=None) for i in range(MAX_REPORTED_ERRORS + 5)]
    with pytest.raises(RegistryError) as info:
        parse_registry(collection(*many), "city.geojson")
    lines = str(info.value).splitlines()
    assert len(lines) == MAX_REPORTED_ERRORS + 1
    assert lines[-1] == f"city.geojson: stopped at {MAX_REPORTED_ERRORS} errors; fix these first"


def test_duplicate_ids_and_devices_across_lots_are_rejected() -> None:
    twin = with_props(devices=None)
    with pytest.raises(RegistryError, match=r"feature 1: id: 'qd-0001' appears twice"):
        parse_registry(collection(GOOD, twin))
    thief = with_props(id="qd-0002", devices={"70B3D57ED0000001": 0})
    with pytest.raises(
        RegistryError, match=r"feature 1: devices.70B3D57ED0000001: is already bound to lot 'qd-0001'"
    ):
        parse_registry(collection(GOOD, thief))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{", "not valid JSON"),
        (b"[]", '"type": "FeatureCollection"'),
        (b'{"type": "FeatureCollection"}', '"features" must be a list'),
    ],
)
def test_a_file_that_is_not_a_feature_collection_is_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(RegistryError, match=reason):
        parse_registry(data, "x.json")


def test_normalised_feature_round_trips() -> None:
    (lot,) = parse_registry(collection(GOOD))
    (again,) = parse_registry(collection(lot.to_feature()))
    assert again == lot


def test_a_device_bound_in_an_earlier_file_cannot_be_bound_again() -> None:
    (loaded,) = parse_registry(collection(GOOD))
    other = copy.deepcopy(GOOD)
    other["properties"] |= {"id": "qd-0002", "devices": {"LDDS-1": 0}}
    (claimant,) = parse_registry(collection(other))
    with pytest.raises(
        RegistryError, match=r"b\.json: feature 0: devices\.LDDS-1: is already bound to lot 'qd-0001'"
    ):
        check_devices_unclaimed([claimant], [loaded], "b.json")


def test_a_device_moves_with_the_lots_its_file_replaces() -> None:
    (loaded,) = parse_registry(collection(GOOD))
    moved = with_props(devices=None)
    other = copy.deepcopy(GOOD)
    other["properties"] |= {"id": "qd-0002"}
    lots = parse_registry(collection(moved, other))
    check_devices_unclaimed(lots, [loaded], "both.json")  # qd-0001 is replaced, so its devices are free


@pytest.mark.parametrize(
    ("feature", "field"),
    [
        (with_props(id="qd-0001\n"), "id"),  # `$` alone would let a trailing newline through
        (
            with_props(devices={"ldds-1\n": {"berth": 2, "codec": "dragino-ldds75", "threshold_mm": 1}}),
            "devices",
        ),
    ],
)
def test_ids_are_matched_whole(feature: dict[str, Any], field: str) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_registry(collection(feature))
    assert field in str(caught.value)


def test_a_distance_sensor_needs_its_threshold_in_the_short_form_too() -> None:
    feature = with_props(codec="dragino-ldds75", devices={"ldds-9": 0})
    with pytest.raises(
        RegistryError, match=r"devices\.ldds-9\.threshold_mm: is required for codec dragino-ldds75"
    ):
        parse_registry(collection(feature))
