"""The whole traffic pipeline: repeatable by seed, independent of the step size; faults; formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensors_sim.demand import HOUR_MS
from sensors_sim.encoders import FORMATS, assign_formats
from sensors_sim.faults import DEFAULT_RATES, Faults, Injector
from sensors_sim.hardware import CHIRPSTACK, NATIVE, PER_BERTH, TTS
from sensors_sim.registry import Registry, load_registry
from sensors_sim.run import MAX_STEP_MS
from sensors_sim.traffic import Clock, Traffic, TrafficOptions
from tests.unit.simcity import codec_lots, feature, generated_city, write_features

Wire = list[tuple[str, bytes, int]]


def wire(registry: Registry, seed: int, step_ms: int, hours: float = 6, faults: str = "all") -> Wire:
    """Everything that would go on the wire, in order: topic, payload, delivery time."""
    traffic = Traffic(registry, TrafficOptions(seed=seed, formats=FORMATS, faults=Faults.parse(faults)))
    clock = Clock(traffic.start_ms, 1_764_201_600_000, 1.0)
    out: Wire = []
    end = traffic.start_ms + int(hours * HOUR_MS)
    t = traffic.start_ms
    while t < end:
        t = min(t + step_ms, end)
        step = traffic.step(t, clock)
        out += [(m.topic, m.payload, m.deliver) for m in step.messages]
        out += [(f"gateway {e.lot}", b"online" if e.online else b"offline", e.at) for e in step.gateways]
    return out


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    tmp = tmp_path_factory.mktemp("traffic")
    lots = codec_lots(capacity=10)
    lots += [feature({"id": f"garage-{i}", "kind": "off_street", "capacity": 150}) for i in range(6)]
    return load_registry(write_features(tmp / "r.geojson", lots))


def test_the_same_seed_gives_the_same_traffic(city: Registry) -> None:
    first, again = wire(city, 3, MAX_STEP_MS), wire(city, 3, MAX_STEP_MS)
    assert len(first) > 1_000
    assert first == again
    assert wire(city, 4, MAX_STEP_MS) != first


def test_the_traffic_does_not_depend_on_the_step_size(city: Registry) -> None:
    coarse = wire(city, 3, MAX_STEP_MS)
    fine = wire(city, 3, 7_000)
    assert sorted(coarse) == sorted(fine)


def test_faults_are_drawn_from_the_seed_and_the_message() -> None:
    injector = Injector(Faults.parse("all"), 9)
    berth, seq = np.arange(100_000) % 977, np.arange(100_000) // 977
    first, again = injector.for_messages(berth, seq), injector.for_messages(berth, seq)
    for name in ("lost", "malformed", "lag_ms", "duplicate_lag_ms"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    other = Injector(Faults.parse("all"), 10).for_messages(berth, seq)
    assert not np.array_equal(first.lost, other.lost)
    assert abs(first.lost.mean() - DEFAULT_RATES["loss"]) < 0.002
    assert abs((first.duplicate_lag_ms >= 0).mean() - DEFAULT_RATES["duplicate"] * 0.99) < 0.003
    assert abs((first.lag_ms > 0).mean() - DEFAULT_RATES["reorder"]) < 0.003
    assert not np.any(first.lost & (first.malformed >= 0))
    assert set(first.malformed.tolist()) == {-1, 0, 1, 2}


def test_no_faults_means_none(city: Registry) -> None:
    traffic = Traffic(city, TrafficOptions(formats=FORMATS))
    clock = Clock(traffic.start_ms, 1_764_201_600_000, 1.0)
    sent = [m for t in range(1, 121) for m in traffic.step(traffic.start_ms + t * 60_000, clock).messages]
    assert not any(m.rejected for m in sent)
    incidents = traffic.incidents()
    assert all(incidents[name] == 0 for name in ("lost", "malformed", "duplicate", "reorder", "flap"))


def test_all_faults_show_up(city: Registry) -> None:
    traffic = Traffic(city, TrafficOptions(formats=FORMATS, faults=Faults.parse("all")))
    clock = Clock(traffic.start_ms, 1_764_201_600_000, 1.0)
    for t in range(1, 24 * 60 + 1):
        traffic.step(traffic.start_ms + t * 60_000, clock)
    incidents = traffic.incidents()
    assert all(incidents[name] > 0 for name in ("lost", "malformed", "duplicate", "reorder", "flap"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none", Faults()),
        ("", Faults()),
        ("all", Faults(**DEFAULT_RATES)),
        ("loss=0.5,duplicate", Faults(loss=0.5, duplicate=DEFAULT_RATES["duplicate"])),
        ("all,skew=0", Faults(**(DEFAULT_RATES | {"skew": 0.0}))),
    ],
)
def test_fault_list(text: str, expected: Faults) -> None:
    assert Faults.parse(text) == expected
    assert Faults.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["typo", "loss=2", "loss=x", "loss=-0.1"])
def test_bad_fault_lists(text: str) -> None:
    with pytest.raises(ValueError, match=r"fault|rate"):
        Faults.parse(text)


def test_formats_follow_what_each_lot_can_do(tmp_path: Path) -> None:
    lots = [
        feature({"id": "plain", "kind": "off_street", "capacity": 5}),
        feature(
            {
                "id": "named",
                "kind": "on_street",
                "capacity": 2,
                "codec": "bosch-pls",
                "devices": {"a": 0, "b": 1},
            }
        ),
        feature(
            {
                "id": "partly",
                "kind": "on_street",
                "capacity": 2,
                "codec": "bosch-pls",
                "devices": {"70B3D57ED0000009": 0},
            }
        ),
        *codec_lots(capacity=2),
    ]
    registry = load_registry(write_features(tmp_path / "r.geojson", lots))
    assert assign_formats(registry, ("tts",), 1).tolist() == [NATIVE, TTS, NATIVE] + [TTS] * 8
    assert (
        assign_formats(registry, ("chirpstack",), 1).tolist() == [NATIVE, NATIVE, NATIVE] + [CHIRPSTACK] * 8
    )
    assert set(assign_formats(registry, ("per-berth",), 1).tolist()) == {PER_BERTH}
    _, big = generated_city(tmp_path, lots=200, berths=20_000)
    mixed = assign_formats(big, FORMATS, 1)
    assert set(mixed.tolist()) == {NATIVE, PER_BERTH, TTS, CHIRPSTACK}
    assert np.array_equal(mixed, assign_formats(big, FORMATS, 1))
