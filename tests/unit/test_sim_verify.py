"""The truth file and what `verify` expects of the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensors_sim.encoders import Message
from sensors_sim.registry import Registry, load_registry
from sensors_sim.truth import Truth, TruthError
from sensors_sim.verify import Expectation, Span, lot_differences
from tests.unit.simcity import feature, write_features

NOW = 1_764_201_600_000
STALE = 3 * 100 * 1000  # 3 * heartbeat_s


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    lots = [
        feature(
            {"id": "a", "kind": "on_street", "capacity": 6, "heartbeat_s": 100, "features": {"ev": [1, 2]}}
        ),
        feature({"id": "b", "kind": "off_street", "capacity": 2, "heartbeat_s": 100}),
    ]
    return load_registry(write_features(tmp_path / "r.geojson", lots))


def message(berths: list[int], ranks: list[int], rejected: int = 0) -> Message:
    return Message(
        "t", b"", 0, np.array(berths, dtype=np.int64), np.array(ranks, dtype=np.int64), rejected, 0
    )


def truth_of(registry: Registry) -> Truth:
    """Lot a: never, fresh occupied, fresh free, stale, at the boundary (free), fresh free; lot b fresh."""
    truth = Truth.empty(registry)
    truth.record(
        [
            message([1, 2, 3], [(NOW - 1_000) * 2 + 1, (NOW - 1_000) * 2, (NOW - STALE - 60_000) * 2 + 1]),
            message([4, 5, 1], [(NOW - STALE) * 2, (NOW - 5) * 2, (NOW - 9_000) * 2], rejected=2),
            message([6, 7], [(NOW - 1) * 2 + 1, NOW * 2]),
        ]
    )
    return truth


def test_order_rule_and_counts(registry: Registry) -> None:
    truth = truth_of(registry)
    assert truth.rank[1] == (NOW - 1_000) * 2 + 1  # the later report wins, whatever the order
    assert (truth.delivered, truth.rejected, truth.messages) == (8, 2, 3)


def test_expected_counts_with_slack_at_the_staleness_boundary(registry: Registry) -> None:
    expect = Expectation(registry, truth_of(registry), NOW, margin_ms=5_000)
    assert expect.counts(0) == {"free": Span(2, 3), "occupied": Span(1, 1), "unknown": Span(2, 3)}
    assert expect.counts(0, "ev") == {"free": Span(1, 1), "occupied": Span(1, 1), "unknown": Span(0, 0)}
    assert expect.counts(1) == {"free": Span(1, 1), "occupied": Span(1, 1), "unknown": Span(0, 0)}
    assert expect.free_berths(0) is None  # berth 4 could go either way
    assert expect.free_berths(1) == [1]
    strict = Expectation(registry, truth_of(registry), NOW + 10_000, margin_ms=0)
    assert strict.counts(0)["free"] == Span(2, 2)


def test_an_offline_lot_is_all_unknown(registry: Registry) -> None:
    truth = truth_of(registry)
    truth.record_status(1, NOW - 10, online=True)
    truth.record_status(1, NOW, online=False)
    expect = Expectation(registry, truth, NOW, margin_ms=0)
    assert expect.counts(1) == {"free": Span(0, 0), "occupied": Span(0, 0), "unknown": Span(2, 2)}
    assert not expect.online[1]
    assert expect.online[0]


def body(free: int, occupied: int, unknown: int, online: bool = True, **features: Any) -> dict[str, Any]:
    empty = {"free": 0, "occupied": 0, "unknown": 0}
    return {
        "free": free,
        "occupied": occupied,
        "unknown": unknown,
        "online": online,
        "features": {"ev": features.get("ev", empty), "accessible": features.get("accessible", empty)},
    }


def test_differences_name_the_lot_and_the_count(registry: Registry) -> None:
    expect = Expectation(registry, truth_of(registry), NOW, margin_ms=5_000)
    ev = {"free": 1, "occupied": 1, "unknown": 0}
    assert lot_differences(expect, 0, "a", body(3, 1, 2, ev=ev), None) == []
    assert lot_differences(expect, 0, "a", body(2, 1, 3, ev=ev), None) == []
    assert lot_differences(expect, 0, "a", body(4, 0, 2, False, ev=ev), None) == [
        "a: free: hub 4, expected 2..3",
        "a: occupied: hub 0, expected 1",
        "a: online: hub False, expected True",
    ]
    nearest = {"results": [{"lot_id": "b", "free_berths": [1]}]}
    assert lot_differences(expect, 1, "b", body(1, 1, 0), nearest) == []
    assert lot_differences(
        expect, 1, "b", body(1, 1, 0), {"results": [{"lot_id": "b", "free_berths": [0]}]}
    ) == ["b: free_berths: hub [0], expected [1]"]
    assert lot_differences(
        expect, 1, "b", body(1, 1, 0, ev={"free": 1, "occupied": 0, "unknown": 0}), nearest
    ) == ["b: ev.free: hub 1, expected 0"]


def test_truth_file_round_trip(registry: Registry, tmp_path: Path) -> None:
    truth = truth_of(registry)
    truth.record_status(0, NOW, online=True)
    path = tmp_path / "truth.npz"
    truth.save(path)
    again = Truth.load(path, registry)
    assert np.array_equal(again.rank, truth.rank)
    assert np.array_equal(again.status, truth.status)
    assert (again.delivered, again.rejected, again.messages) == (8, 2, 3)
    assert not list(tmp_path.glob("*.part"))


def test_truth_file_of_another_registry_or_no_truth_file(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "truth.npz"
    truth_of(registry).save(path)
    other = load_registry(
        write_features(tmp_path / "o.geojson", [feature({"id": "a", "kind": "on_street", "capacity": 7})])
    )
    with pytest.raises(TruthError, match="another registry"):
        Truth.load(path, other)
    (tmp_path / "junk.npz").write_bytes(b"not a numpy file")
    with pytest.raises(TruthError, match="cannot read"):
        Truth.load(tmp_path / "junk.npz", registry)
