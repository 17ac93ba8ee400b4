"""The registry's JSON Schema agrees with the loader: every registry the loader takes validates, and
every refusal a schema can express fails it. docs/ holds the same bytes the hub serves."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from jsonschema import Draft202012Validator

from parking_hub.interfaces import encoded, registry_schema
from parking_hub.interfaces.registry_schema import EXAMPLE_LOT
from parking_hub.registry import parse_registry
from tests.registry_check import schema_errors
from tests.unit.simcity import codec_lots, generated_city
from tests.unit.test_registry import GOOD, REFUSED, collection, with_props
from tests.unit.test_registry_properties import registries

ROOT = Path(__file__).parents[2]
# Refusals that compare a field with `capacity`, by their reason: the loader's alone.
CAPACITY_RULES = {"berth 3 is outside 0..2", "must list 3", "berth 7 is outside"}


def test_the_schema_is_valid_and_docs_keep_the_served_copy() -> None:
    Draft202012Validator.check_schema(registry_schema())
    kept = (ROOT / "docs" / "registry.schema.json").read_bytes()
    assert kept == encoded("registry.schema.json"), "run: python -m parking_hub.interfaces docs"


@pytest.mark.parametrize(
    "features",
    [
        [GOOD],
        [with_props(features=None, berths=None, codec=None, devices=None, heartbeat_s=None, name=None)],
        [EXAMPLE_LOT],
        codec_lots(),
    ],
    ids=["full", "minimal", "example", "codecs"],
)
def test_registries_the_loader_takes_validate(features: list[dict[str, Any]]) -> None:
    doc = orjson.loads(collection(*features))
    parse_registry(collection(*features))
    assert schema_errors(doc) == []


def test_the_seed_city_and_a_generated_city_validate(tmp_path: Path) -> None:
    for path in (ROOT / "seeds" / "qingdao.geojson", generated_city(tmp_path)[0]):
        assert schema_errors(orjson.loads(path.read_bytes())) == [], path


@settings(max_examples=60, deadline=None)
@given(lots=registries())
def test_every_registry_the_loader_writes_validates(lots: list[Any]) -> None:
    assert schema_errors({"type": "FeatureCollection", "features": [lot.to_feature() for lot in lots]}) == []


@pytest.mark.parametrize(("feature", "field", "reason"), REFUSED, ids=[case[2] for case in REFUSED])
def test_refusals_a_schema_can_express_fail_it(feature: dict[str, Any], field: str, reason: str) -> None:
    doc = {"type": "FeatureCollection", "features": [feature]}
    assert bool(schema_errors(doc)) == (reason not in CAPACITY_RULES), field


def test_a_distance_codec_for_the_lot_needs_thresholds_on_device_objects() -> None:
    lot = copy.deepcopy(GOOD)
    lot["properties"] |= {"codec": "milesight-em400", "devices": {"em-1": {"berth": 0}}}
    with pytest.raises(ValueError, match="threshold_mm"):
        parse_registry(collection(lot))
    assert schema_errors({"type": "FeatureCollection", "features": [lot]})
