"""The traffic feed's pure parts: registry reading, the traffic process and message building."""

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from sensors_sim.city import CitySpec, encode_city, generate_city
from sensors_sim.cli import main
from sensors_sim.feed import (
    MAX_FRAME_EVENTS,
    TICK_S,
    Batch,
    MqttUrl,
    Registry,
    RegistryError,
    Traffic,
    berth_messages,
    changes_in_tick,
    load_registry,
    native_frames,
    status_messages,
)

START_MS = 1_764_201_600_000


def small_registry(capacity: list[int], heartbeat_s: int = 60) -> Registry:
    return Registry(
        [f"lot-{i}" for i in range(len(capacity))],
        np.array(capacity, dtype=np.int64),
        np.full(len(capacity), heartbeat_s, dtype=np.int64),
    )


def write_features(path: Path, features: list[Any]) -> Path:
    path.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))
    return path


def lot(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [120.4, 36.1]},
        "properties": props,
    }


def test_load_registry_reads_a_generated_city(tmp_path: Path) -> None:
    path = tmp_path / "city.geojson"
    path.write_bytes(encode_city(generate_city(CitySpec(lots=30, berths=4_000, seed=2))))
    registry = load_registry(path)
    assert len(registry.lot_ids) == 30
    assert int(registry.capacity.sum()) == 4_000
    assert registry.offsets[0] == 0
    assert registry.offsets[-1] == 4_000 - registry.capacity[-1]


def test_load_registry_defaults_the_heartbeat(tmp_path: Path) -> None:
    path = write_features(tmp_path / "r.geojson", [lot({"id": "a", "capacity": 3})])
    assert load_registry(path).heartbeat_s.tolist() == [3600]


@pytest.mark.parametrize(
    ("features", "reason"),
    [
        ([lot({"id": "A!", "capacity": 3})], r"feature 0: id"),
        ([lot({"id": "a", "capacity": 3}), lot({"id": "b", "capacity": 0})], r"feature 1: capacity"),
        ([lot({"id": "a", "capacity": True})], r"feature 0: capacity"),
        ([lot({"id": "a", "capacity": 2, "heartbeat_s": -5})], r"feature 0: heartbeat_s"),
        ([lot({"id": "a", "capacity": 2}), lot({"id": "a", "capacity": 2})], r"not unique"),
        ([{"type": "Feature"}], r"feature 0: properties"),
        ([], r"FeatureCollection"),
    ],
)
def test_load_registry_names_what_is_wrong(tmp_path: Path, features: list[Any], reason: str) -> None:
    with pytest.raises(RegistryError, match=reason):
        load_registry(write_features(tmp_path / "r.geojson", features))


def test_load_registry_refuses_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "missing.geojson")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RegistryError, match="not JSON"):
        load_registry(tmp_path / "bad.json")


def test_native_frames_split_per_lot_and_at_10000_events() -> None:
    registry = small_registry([25_000, 5])
    seq = np.zeros(2, dtype=np.int64)
    lots = np.concatenate((np.zeros(25_000, dtype=np.int64), np.ones(5, dtype=np.int64)))
    berths = np.concatenate((np.arange(25_000), np.arange(5)))
    batch = Batch(
        lots[::-1].copy(), berths[::-1].copy(), np.ones(25_005, dtype=np.uint8), np.arange(25_005) + START_MS
    )
    frames = native_frames("parking", registry, batch, seq)

    topics = [topic for topic, _ in frames]
    assert topics == ["parking/v1/lots/lot-0/events"] * 3 + ["parking/v1/lots/lot-1/events"]
    decoded = [orjson.loads(payload) for _, payload in frames]
    for frame in decoded:
        assert len(frame["berth"]) == len(frame["occupied"]) == len(frame["ts"]) <= MAX_FRAME_EVENTS
        assert all(type(ts) is int for ts in frame["ts"])
        assert set(frame["occupied"]) == {1}
    assert [f["seq"] for f in decoded] == [1, 2, 3, 1]
    assert decoded[0]["gateway"] == "gw-lot-0"
    assert sorted(b for f in decoded[:3] for b in f["berth"]) == list(range(25_000))
    assert seq.tolist() == [3, 1]


def test_berth_and_status_messages() -> None:
    registry = small_registry([4, 4])
    batch = Batch(np.array([1, 0]), np.array([3, 0]), np.array([1, 0], dtype=np.uint8), np.array([5, 6]))
    assert list(berth_messages("city", registry, batch)) == [
        ("city/v1/lots/lot-1/berths/3", b'{"occupied":1,"ts":5}'),
        ("city/v1/lots/lot-0/berths/0", b'{"occupied":0,"ts":6}'),
    ]
    assert status_messages("city", registry, 7) == [
        ("city/v1/lots/lot-0/status", b'{"online":true,"ts":7}'),
        ("city/v1/lots/lot-1/status", b'{"online":true,"ts":7}'),
    ]


def test_startup_reports_every_berth_once() -> None:
    registry = small_registry([300, 1, 2_000])
    batch = Traffic(registry, seed=1).startup(START_MS)
    assert len(batch) == 2_301
    keys = set(zip(batch.lot.tolist(), batch.berth.tolist(), strict=True))
    assert keys == {(lot, berth) for lot, cap in enumerate([300, 1, 2_000]) for berth in range(cap)}
    assert set(batch.ts.tolist()) == {START_MS}
    assert 0.5 < batch.occupied.mean() < 0.9


def run_steps(seed: int, steps: int, rate: float, registry: Registry, step_ms: int = 100) -> list[Batch]:
    traffic = Traffic(registry, seed)
    batches = [traffic.startup(START_MS)]
    now = START_MS
    for tick in range(steps):
        prev, now = now, now + step_ms
        batches.append(traffic.step(tick, changes_in_tick(rate, tick), prev, now))
    return batches


def test_same_seed_gives_the_same_traffic() -> None:
    registry = small_registry([500, 800])
    first, again, other = (run_steps(seed, 50, 200.0, registry) for seed in (3, 3, 4))
    for a, b in zip(first, again, strict=True):
        for name in ("lot", "berth", "occupied", "ts"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
    assert any(not np.array_equal(a.occupied, b.occupied) for a, b in zip(first, other, strict=True))


def test_the_changes_do_not_depend_on_the_clock() -> None:
    registry = small_registry([500, 800], heartbeat_s=100_000)
    steady, hurried = run_steps(3, 50, 200.0, registry), run_steps(3, 50, 200.0, registry, step_ms=37)
    for a, b in zip(steady, hurried, strict=True):
        assert np.array_equal(a.lot, b.lot)
        assert np.array_equal(a.berth, b.berth)
        assert np.array_equal(a.occupied, b.occupied)


def test_each_report_is_newer_than_the_berths_last() -> None:
    registry = small_registry([200, 300], heartbeat_s=1)
    last = np.full(500, -1, dtype=np.int64)
    offsets = registry.offsets
    for batch in run_steps(5, 40, 300.0, registry):
        index = offsets[batch.lot] + batch.berth
        assert len(np.unique(index)) == len(index)  # one report per berth per step
        assert np.all(batch.ts > last[index])
        last[index] = batch.ts
        assert np.all((batch.berth >= 0) & (batch.berth < registry.capacity[batch.lot]))


def test_state_changes_are_real_arrivals_and_departures() -> None:
    registry = small_registry([400], heartbeat_s=10_000)
    traffic = Traffic(registry, seed=2)
    before = traffic.startup(START_MS).occupied.copy()
    batch = traffic.step(0, 30, START_MS, START_MS + 100)
    assert len(batch) == 30  # no heartbeat is due yet
    assert np.all(batch.occupied != before[batch.berth])
    assert np.all((batch.ts > START_MS) & (batch.ts <= START_MS + 100))


def test_heartbeats_keep_every_berth_fresh() -> None:
    registry = small_registry([100, 50], heartbeat_s=60)
    traffic = Traffic(registry, seed=9)
    traffic.startup(START_MS)
    later = START_MS + 60_000
    batch = traffic.step(0, 0, START_MS, later)
    assert len(batch) == 150
    assert set(batch.ts.tolist()) == {later}
    assert len(traffic.step(1, 0, later, later + 100)) == 0


def test_occupancy_drifts_within_a_plausible_band() -> None:
    registry = small_registry([2_000, 3_000], heartbeat_s=100_000)
    traffic = Traffic(registry, seed=11)
    traffic.startup(START_MS)
    now = START_MS
    levels = []
    for tick in range(3_000):
        prev, now = now, now + 100
        traffic.step(tick, changes_in_tick(500.0, tick), prev, now)
        levels.append(traffic.occupancy)
    assert min(levels) > 0.55
    assert max(levels) < 0.85


@pytest.mark.parametrize("rate", [0.0, 0.3, 7.0, 50.0, 1234.5])
def test_changes_per_tick_add_up_to_the_rate(rate: float) -> None:
    ticks = round(20 / TICK_S)
    counts = [changes_in_tick(rate, tick) for tick in range(ticks)]
    assert min(counts) >= 0
    assert abs(sum(counts) - rate * 20) < 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", MqttUrl("127.0.0.1", 1883)),
        ("mqtt://broker", MqttUrl("broker", 1883)),
        ("mqtts://broker.example", MqttUrl("broker.example", 8883, tls=True)),
        ("mqtt://op%2D1:p%40ss@h:1884/", MqttUrl("h", 1884, "op-1", "p@ss")),
    ],
)
def test_mqtt_url_parses(url: str, expected: MqttUrl) -> None:
    assert MqttUrl.parse(url) == expected


@pytest.mark.parametrize("url", ["http://h", "mqtt://", "mqtt://h:99999", "mqtt://h/topic", "h:1883"])
def test_mqtt_url_refuses_nonsense(url: str) -> None:
    with pytest.raises(ValueError, match=r"mqtt|port"):
        MqttUrl.parse(url)


def test_cli_run_refuses_bad_input_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--lots", str(tmp_path / "missing.geojson")]) == 2
    registry = write_features(tmp_path / "r.geojson", [lot({"id": "a", "capacity": 2})])
    for bad in (["--mqtt-url", "http://x"], ["--rate", "-1"], ["--format", "xml"], ["--duration", "0"]):
        with pytest.raises(SystemExit) as exited:
            main(["run", "--lots", str(registry), *bad])
        assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 5
