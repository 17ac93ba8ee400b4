"""Hypothesis properties of the registry loader: what it writes it reads back unchanged; one bad
field in any lot rejects the file, naming that lot's index and the field; nothing else escapes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking_hub.lot_facts import ACCESS, Facts, Fee
from parking_hub.registry import (
    CODECS,
    DISTANCE_CODECS,
    FEATURES,
    KINDS,
    MAX_CAPACITY,
    MAX_HEARTBEAT_S,
    MAX_LAT,
    VEHICLE_CLASSES,
    Device,
    Lot,
    RegistryError,
    parse_registry,
)

lons = st.floats(-180, 180, allow_nan=False)
lats = st.floats(-MAX_LAT, MAX_LAT, allow_nan=False)
device_keys = st.one_of(
    st.from_regex(r"[0-9A-F]{16}", fullmatch=True), st.from_regex(r"[a-z][a-z0-9_.:-]{0,20}", fullmatch=True)
)


HOURS = ("24/7", "Mo-Fr 07:00-22:00; Sa,Su 08:00-20:00; PH off", "Mo-Su 10:00-22:00", "22:00-06:00")
prices = st.floats(0, 1000, allow_nan=False)
fees = st.builds(
    Fee,
    currency=st.one_of(st.none(), st.sampled_from(["CNY", "EUR"])),
    per_hour=st.one_of(st.none(), prices),
    free_minutes=st.one_of(st.none(), st.integers(0, 1440)),
    max_per_day=st.one_of(st.none(), prices),
    text=st.one_of(st.none(), st.text(min_size=1, max_size=30)),
).filter(lambda fee: bool(fee.as_dict()))
facts = st.builds(
    Facts,
    timezone=st.one_of(st.none(), st.sampled_from(["Asia/Shanghai", "UTC", "Europe/Berlin"])),
    opening_hours=st.one_of(st.none(), st.sampled_from(HOURS)),
    entrances=st.lists(st.tuples(lons, lats), max_size=3).map(tuple),
    max_height_m=st.one_of(st.none(), st.floats(0.5, 20)),
    max_stay_min=st.one_of(st.none(), st.integers(1, 525_600)),
    access=st.sampled_from(ACCESS),
    fee=st.one_of(st.none(), fees),
    address=st.one_of(st.none(), st.text(min_size=1, max_size=40)),
    url=st.one_of(st.none(), st.just("https://parking.example.org/p1")),
    phone=st.one_of(st.none(), st.just("+86 532 8000 0000")),
)


@st.composite
def lots(draw: st.DrawFn, lot_id: str) -> Lot:
    capacity = draw(st.integers(1, 40))
    berth = st.integers(0, capacity - 1)
    codec = draw(st.one_of(st.none(), st.sampled_from(CODECS)))
    devices = {}
    for key in draw(st.lists(device_keys, max_size=4, unique_by=str.casefold)):
        device_codec = draw(st.one_of(st.none(), st.sampled_from(CODECS))) or codec
        threshold = draw(st.integers(1, 100_000)) if device_codec in DISTANCE_CODECS else None
        devices[key] = Device(draw(berth), device_codec, threshold)
    return Lot(
        id=lot_id,
        name=draw(st.text(min_size=1, max_size=40)),
        operator=draw(st.text(min_size=1, max_size=20)),
        kind=draw(st.sampled_from(KINDS)),
        capacity=capacity,
        lon=draw(lons),
        lat=draw(lats),
        heartbeat_s=draw(st.integers(1, MAX_HEARTBEAT_S)),
        features=draw(features(capacity)),
        berths=draw(st.one_of(st.none(), st.tuples(*[st.tuples(lons, lats)] * capacity))),
        codec=codec,
        devices=devices,
        facts=draw(facts),
    )


@st.composite
def features(draw: st.DrawFn, capacity: int) -> dict[str, tuple[int, ...]]:
    """Berth lists per feature; a berth is under one vehicle class at most."""
    berth = st.integers(0, capacity - 1)
    drawn = {
        name: tuple(sorted(draw(st.sets(berth, max_size=capacity))))
        for name in draw(st.sets(st.sampled_from(FEATURES)))
    }
    taken: set[int] = set()
    for name in VEHICLE_CLASSES:
        if name in drawn:
            drawn[name] = tuple(b for b in drawn[name] if b not in taken)
            taken |= set(drawn[name])
    return drawn


@st.composite
def registries(draw: st.DrawFn) -> list[Lot]:
    ids = draw(
        st.lists(st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True), min_size=1, max_size=4, unique=True)
    )
    out: list[Lot] = []
    taken: set[str] = set()
    for lot_id in ids:
        lot = draw(lots(lot_id))
        # A device reports for one lot only: drop keys another lot of the file already holds.
        kept = {k: d for k, d in lot.devices.items() if k.casefold() not in taken}
        taken |= {k.casefold() for k in kept}
        out.append(Lot(**{**{f: getattr(lot, f) for f in Lot.__slots__}, "devices": kept}))
    return out


def collection(features: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"type": "FeatureCollection", "features": features})


@settings(max_examples=150, deadline=None)
@given(registries())
def test_a_registry_reads_back_as_written(written: list[Lot]) -> None:
    read = parse_registry(collection([lot.to_feature() for lot in written]))
    assert read == written
    assert parse_registry(collection([lot.to_feature() for lot in read])) == read  # normal form is stable


# One bad value per field, and the field the error must name.
CORRUPTIONS: list[tuple[str, str, Any]] = [
    ("id", "id", "Upper-Case"),
    ("id", "id", "x" * 65),
    ("kind", "kind", "garage"),
    ("capacity", "capacity", 0),
    ("capacity", "capacity", MAX_CAPACITY + 1),
    ("capacity", "capacity", True),
    ("capacity", "capacity", "5"),
    ("heartbeat_s", "heartbeat_s", 0),
    ("heartbeat_s", "heartbeat_s", MAX_HEARTBEAT_S + 1),
    ("name", "name", ""),
    ("name", "name", "n" * 257),
    ("codec", "codec", "acme-9000"),
    ("features", "features.ev", {"ev": [10**6]}),
    ("features", "features.solar", {"solar": [0]}),
    ("berths", "berths", [[0.0, 0.0]] * (MAX_CAPACITY + 1)),
    ("devices", "devices.bad key!", {"bad key!": 0}),
    ("coordinates", "geometry.coordinates", [181.0, 0.0]),
    ("coordinates", "geometry.coordinates", [0.0, 86.0]),
    ("coordinates", "geometry.coordinates", ["1", 0.0]),
    ("features", "features", {"truck": [0], "bus": [0]}),
    ("timezone", "timezone", "Mars/Olympus_Mons"),
    ("timezone", "timezone", 8),
    ("opening_hours", "opening_hours", "Mo-Fx 08:00-20:00"),
    ("opening_hours", "opening_hours", "08:00-25:61"),
    ("opening_hours", "opening_hours", ""),
    ("entrances", "entrances", []),
    ("entrances", "entrances", [[0.0, 0.0]] * 65),
    ("opening_hours", "opening_hours", "24/7; " * 200),
    ("timezone", "timezone", "A" * 65),
    ("max_height_m", "max_height_m", 20.5),
    ("max_stay_min", "max_stay_min", 525_601),
    ("fee", "fee.max_per_day", {"max_per_day": 100_001}),
    ("fee", "fee.free_minutes", {"free_minutes": 1441}),
    ("entrances", "entrances[0]", [[200.0, 0.0]]),
    ("max_height_m", "max_height_m", 0),
    ("max_height_m", "max_height_m", "2.1"),
    ("max_stay_min", "max_stay_min", 0),
    ("access", "access", "staff"),
    ("fee", "fee", {}),
    ("fee", "fee", {"per_hour": 1, "deposit": 5}),
    ("fee", "fee.per_hour", {"per_hour": -1}),
    ("fee", "fee.per_hour", {"per_hour": True}),
    ("fee", "fee.currency", {"currency": "yuan"}),
    ("fee", "fee.free_minutes", {"free_minutes": 1.5}),
    ("address", "address", ""),
    ("url", "url", "ftp://example.org"),
    ("phone", "phone", "call us"),
]


@settings(max_examples=150, deadline=None)
@given(registries(), st.data())
def test_one_bad_field_rejects_the_file_naming_the_lot_and_field(
    written: list[Lot], data: st.DataObject
) -> None:
    features = [lot.to_feature() for lot in written]
    index = data.draw(st.integers(0, len(features) - 1))
    where, field, value = data.draw(st.sampled_from(CORRUPTIONS))
    if where == "coordinates":
        features[index]["geometry"]["coordinates"] = value
    else:
        features[index]["properties"][where] = value
    with pytest.raises(RegistryError) as caught:
        parse_registry(collection(features), "city.geojson")
    assert str(caught.value).startswith(f"city.geojson: feature {index}: {field}: "), str(caught.value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(json_values, st.builds(lambda fs: {"type": "FeatureCollection", "features": fs}, json_values))
)
def test_any_json_loads_or_is_a_registry_error(doc: Any) -> None:
    try:
        parse_registry(orjson.dumps(doc))
    except RegistryError as exc:
        failure = str(exc)
    else:
        failure = "none"
    assert failure  # a RegistryError always says why
