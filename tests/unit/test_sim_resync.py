"""Simulated gateways: frame numbering, resync requests and the answers to them (contract 7.4)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest

from sensors_sim.faults import Faults
from sensors_sim.gateways import MAX_FRAME_EVENTS, Gateways
from sensors_sim.publish import MqttUrl
from sensors_sim.registry import Registry, load_registry
from sensors_sim.resync import Request, RequestError, ResyncRequests, parse
from sensors_sim.traffic import Clock, Traffic, TrafficOptions
from tests.unit.simcity import feature, write_features

NOW = 1_764_201_600_000


def garages(count: int = 4) -> list[dict[str, Any]]:
    return [feature({"id": f"garage-{i}", "kind": "off_street", "capacity": 120}) for i in range(count)]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return load_registry(write_features(tmp_path_factory.mktemp("resync") / "r.geojson", garages()))


@pytest.fixture(scope="module")
def big_city(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    big = feature({"id": "big", "kind": "off_street", "capacity": 2 * MAX_FRAME_EVENTS + 5000})
    return load_registry(write_features(tmp_path_factory.mktemp("resync") / "r.geojson", [*garages(), big]))


def berths_of(registry: Registry, lot: int) -> npt.NDArray[np.int64]:
    first = int(registry.offsets[lot])
    return np.arange(first, first + int(registry.capacity[lot]))


def request(**fields: Any) -> bytes:
    return orjson.dumps({"gateway": "gw-big", "reason": "seq_gap", "missing_from": 7, "ts": NOW} | fields)


def test_a_request_is_read_from_its_topic_and_payload() -> None:
    assert parse("city/a", "city/a/v1/lots/big/resync", request()) == Request(
        "big", "gw-big", "seq_gap", 7, NOW
    )


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        ("parking/v1/lots/big/events", request(), "not a resync topic"),
        ("parking/v1/lots/a/b/resync", request(), "not a resync topic"),
        ("other/v1/lots/big/resync", request(), "not a resync topic"),
        ("parking/v1/lots/big/resync", b"{", "not JSON"),
        ("parking/v1/lots/big/resync", b"[1]", "not a JSON object"),
        ("parking/v1/lots/big/resync", request(gateway=None), "gateway is missing"),
        ("parking/v1/lots/big/resync", request(missing_from="7"), "missing_from is missing or not a int"),
        ("parking/v1/lots/big/resync", request(ts=True), "ts is missing or not a int"),
        ("parking/v1/lots/big/resync", request(reason=1), "reason is missing"),
    ],
)
def test_what_is_not_a_request_says_why(topic: str, payload: bytes, why: str) -> None:
    with pytest.raises(RequestError, match=why):
        parse("parking", topic, payload)


def frame_of(payload: bytes) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(payload)
    assert set(frame) == {"gateway", "seq", "berth", "occupied", "ts"}
    assert len(frame["berth"]) == len(frame["occupied"]) == len(frame["ts"]) <= MAX_FRAME_EVENTS
    return frame


def test_a_resync_holds_each_berths_greatest_report_in_numbered_frames(big_city: Registry) -> None:
    big = big_city.lot_ids.index("big")
    first = int(big_city.offsets[big])
    gateways = Gateways(big_city, np.ones(len(big_city.lot_ids), dtype=bool), "parking")
    berths = berths_of(big_city, big)
    reported = berths[berths % 7 != 3]  # some berths never reported
    gateways.remember(reported, (NOW - reported) * 2 + 1)
    gateways.remember(reported, (NOW - reported) * 2)  # older by the order rule: kept out
    gateways.remember(reported[:5], (NOW + 10) * 2 + np.zeros(5, dtype=np.int64))  # newer: wins
    for _ in range(3):
        gateways.frame(big, np.array([0]), np.array([1]), np.array([NOW]))

    frames = gateways.resync(big)

    bodies = [frame_of(f.payload) for f in frames]
    assert [b["seq"] for b in bodies] == [4, 5, 6]
    assert [len(b["berth"]) for b in bodies] == [MAX_FRAME_EVENTS, MAX_FRAME_EVENTS, len(reported) - 20_000]
    assert {b["gateway"] for b in bodies} == {"gw-big"}
    berth = np.concatenate([b["berth"] for b in bodies])
    assert np.array_equal(berth, reported - first)
    ts = np.concatenate([b["ts"] for b in bodies])
    occupied = np.concatenate([b["occupied"] for b in bodies])
    assert np.array_equal(ts[:5], np.full(5, NOW + 10))
    assert np.array_equal(occupied[:5], np.zeros(5))
    assert np.array_equal(ts[5:], NOW - reported[5:])
    assert np.array_equal(occupied[5:], np.ones(len(reported) - 5))
    # What the frames carry, as the truth records it: city-wide berths and their ranks.
    assert np.array_equal(np.concatenate([f.berth for f in frames]), reported)
    assert np.array_equal(np.concatenate([f.rank for f in frames]), ts * 2 + occupied)
    assert gateways.resync(0) == []  # nothing reported yet


def test_requests_are_answered_once_per_lot_and_only_for_these_gateways(
    city: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    present = np.array([lot_id != "garage-1" for lot_id in city.lot_ids])
    gateways = Gateways(city, present, "parking", name_prefix="load-")
    gateways.remember(np.arange(10), np.full(10, NOW * 2))
    requests = ResyncRequests(MqttUrl.parse("mqtt://127.0.0.1:1"), "parking", gateways)
    topic = "parking/v1/lots/{}/resync"

    requests.received(topic.format("garage-0"), request(gateway="load-garage-0"))
    requests.received(topic.format("garage-0"), request(gateway="load-garage-0", missing_from=9))
    requests.received(topic.format("garage-0"), request(gateway="gw-garage-0"))  # not its name
    requests.received(topic.format("garage-1"), request(gateway="load-garage-1"))  # no gateway
    requests.received(topic.format("garage-0"), b"not json")
    requests.received(topic.format("nowhere"), request(gateway="load-nowhere"))

    answers = requests.answers()
    assert [lot for lot, _ in answers] == [0]
    assert frame_of(answers[0][1].payload)["gateway"] == "load-garage-0"
    assert requests.answers() == []
    assert requests.counts.line() == (
        "resync: answered 1 requests with 1 frames (10 events); 3 for other gateways, 1 unreadable"
    )
    assert capsys.readouterr().err.count("ignored a resync request") == 1


def native_frames(
    registry: Registry, faults: str, hours: int = 4, step_min: int = 1
) -> tuple[Traffic, list[dict[str, Any]]]:
    """Every native frame of a run, in the order it reaches the broker."""
    traffic = Traffic(registry, TrafficOptions(seed=3, formats=("native",), faults=Faults.parse(faults)))
    clock = Clock(traffic.start_ms, NOW, 1.0)
    frames = []
    for minute in range(step_min, hours * 60 + 1, step_min):
        step = traffic.step(traffic.start_ms + minute * 60_000, clock)
        frames += [frame_of(m.payload) for m in step.messages]
    return traffic, frames


def test_each_gateways_seq_runs_on_without_gaps(city: Registry) -> None:
    traffic, frames = native_frames(city, "none", hours=72, step_min=10)
    assert traffic.incidents()["gateway outages"] > 0  # a gateway back from one keeps counting
    last: dict[str, int] = {}
    for frame in frames:
        assert frame["seq"] == last.get(frame["gateway"], 0) + 1
        last[frame["gateway"]] = frame["seq"]
    assert set(last) == {f"gw-{lot_id}" for lot_id in city.lot_ids}


def test_lost_frames_leave_gaps_that_a_resync_fills(city: Registry) -> None:
    clean, _ = native_frames(city, "none")
    lossy, frames = native_frames(city, "loss=0.3")
    last: dict[str, int] = {}
    skipped = 0
    for frame in frames:
        skipped += frame["seq"] - last.get(frame["gateway"], 0) - 1
        last[frame["gateway"]] = frame["seq"]
    assert skipped > 0
    assert skipped <= lossy.incidents()["lost"]  # a gateway's last frames may be the lost ones
    # Lost frames are numbered too, and remembered: the answer is the one the same traffic
    # without loss would give, every berth's report as a loss-free run delivered it.
    for lot in range(len(city.lot_ids)):
        healed = lossy.encoder.gateways.resync(lot)
        assert [f.payload for f in healed] == [f.payload for f in clean.encoder.gateways.resync(lot)]
        assert np.array_equal(np.concatenate([f.berth for f in healed]), berths_of(city, lot))
