"""Network-server uplinks (the stored documentation examples and variants) through `decode_uplink`."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking_hub.ingest.formats import Decoded
from parking_hub.ingest.lorawan import DeviceIndex, decode_uplink, parse_topic
from parking_hub.ingest.lorawan.envelopes import (
    EnvelopeError,
    Uplink,
    parse_uplink,
    rfc3339_ms,
    rfc3339_ms_by_pattern,
)
from parking_hub.ingest.lorawan.times import MIN_ROWS, rfc3339_ms_array
from parking_hub.rank import MAX_FUTURE_MS
from parking_hub.registry import parse_registry

UPLINKS = Path(__file__).parent.parent / "data" / "lns-uplinks"
TTS_TOPIC = "v3/app1@tenant1/devices/dev1/up"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CS_TOPIC = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up"


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((UPLINKS / name).read_bytes())
    return doc


def ms(text: str) -> int:
    return (dt.datetime.fromisoformat(text) - EPOCH) // dt.timedelta(milliseconds=1)


def index(devices: dict[str, Any], codec: str | None = "nwave-nps405") -> DeviceIndex:
    props: dict[str, Any] = {"id": "lot-a", "kind": "on_street", "capacity": 10, "devices": devices}
    if codec:
        props["codec"] = codec
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [120.4, 36.1]},
        "properties": props,
    }
    return DeviceIndex(parse_registry(orjson.dumps({"type": "FeatureCollection", "features": [feature]})))


def uplink(topic: str, doc: dict[str, Any]) -> Uplink:
    where = parse_topic(topic)
    assert where is not None
    return parse_uplink(where, orjson.dumps(doc))


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("v3/app1@tenant1/devices/dev1/up", ("tts", "dev1")),
        ("v3/app1/devices/dev1/up", ("tts", "dev1")),
        ("v3/app1@ttn/devices/eui-70b3d57ed0000001/up", ("tts", "eui-70b3d57ed0000001")),
        (CS_TOPIC, ("chirpstack", "0101010101010101")),
        ("v3/app1/devices/dev1/join", None),
        ("v3//devices/dev1/up", None),
        ("application/a/device/0101010101010101/event/log", None),
        ("application/a/device//event/up", None),
        ("parking/v1/lots/a/events", None),
    ],
)
def test_topics(topic: str, expected: tuple[str, str] | None) -> None:
    where = parse_topic(topic)
    assert (None if where is None else (where.server, where.device)) == expected


@pytest.mark.parametrize(
    ("text", "same_in_ms"),
    [
        ("2020-02-12T15:15:46.014773143Z", "2020-02-12T15:15:46.014+00:00"),
        ("2022-07-18T09:34:15.775023242+00:00", "2022-07-18T09:34:15.775+00:00"),
        ("2026-11-27T16:00:00.5+08:00", "2026-11-27T08:00:00.500+00:00"),
        ("2026-11-27T03:00:00-05:30", "2026-11-27T08:30:00+00:00"),
        ("2019-01-29t13:02:34.981z", "2019-01-29T13:02:34.981+00:00"),
    ],
)
def test_rfc3339_to_integer_milliseconds(text: str, same_in_ms: str) -> None:
    assert rfc3339_ms(text) == ms(same_in_ms)


@pytest.mark.parametrize(
    "text", ["2020-02-30T00:00:00Z", "2020-02-12 15:15", "yesterday", 17, "2020-02-12T25:00:00Z"]
)
def test_rfc3339_refuses_what_is_not_a_time(text: object) -> None:
    with pytest.raises(EnvelopeError, match="time"):
        rfc3339_ms(text)


def test_tts_mqtt_example_without_f_cnt_or_received_at() -> None:
    up = uplink(TTS_TOPIC, example("tts-v3-mqtt-uplink.json"))
    assert up == Uplink(
        ("dev1", "4200000000000000"), 15, 0, b"Temperature = 0.0", ms("2019-01-29T13:02:34.981+00:00")
    )


def test_tts_data_formats_example_without_f_port() -> None:
    up = uplink(TTS_TOPIC, example("tts-v3-data-formats-uplink.json"))
    assert up == Uplink(
        ("dev1", "0004A30B001C0530"), None, 1, bytes.fromhex("8241DE"), ms("2020-02-12T15:15:46.014+00:00")
    )


def test_chirpstack_example_without_f_cnt() -> None:
    up = uplink(CS_TOPIC, example("chirpstack-v4-event-up.json"))
    assert up == Uplink(
        ("0101010101010101", "0101010101010101"), 1, 0, b"\xaa", ms("2022-07-18T09:34:15.775+00:00")
    )


def test_chirpstack_example_decodes_to_a_berth_report() -> None:
    doc = example("chirpstack-v4-event-up.json")
    ts = ms("2022-07-18T09:34:15.775+00:00")
    decoded = decode_uplink(CS_TOPIC, orjson.dumps(doc), index({"0101010101010101": 4}), ts + 1_000)
    assert decoded.lot == "lot-a"
    assert not decoded.rejections
    assert list(decoded.berths) == [4]
    assert list(decoded.ranks) == [ts * 2]  # 0xAA: bit 0 clear, free (previous state 85 min)


def test_the_chirpstack_log_event_is_not_an_uplink() -> None:
    decoded = decode_uplink(
        CS_TOPIC.replace("event/up", "event/log"),
        orjson.dumps(example("chirpstack-v4-event-log.json")),
        index({"0101010101010101": 4}),
        0,
    )
    assert codes(decoded) == ["unknown_topic"]
    assert decoded.lot is None


def codes(decoded: Decoded) -> list[str]:
    return [r.code for r in decoded.rejections]


def tts(device_id: str, dev_eui: str, port: int | None, payload: bytes, received_at: str | None) -> bytes:
    up: dict[str, Any] = {"frm_payload": base64.b64encode(payload).decode(), "f_cnt": 7}
    if port is not None:
        up["f_port"] = port
    doc: dict[str, Any] = {
        "end_device_ids": {"device_id": device_id, "dev_eui": dev_eui},
        "uplink_message": up,
    }
    if received_at:
        doc["received_at"] = received_at
    return orjson.dumps(doc)


NOW = ms("2026-11-27T08:00:00+00:00")
AT = "2026-11-27T07:59:58.123456789Z"


def test_device_found_by_id_in_any_case_or_by_deveui() -> None:
    devices = index({"Gate-7": 1, "70b3d57ed0000001": {"berth": 2, "codec": "bosch-pls"}})
    by_id = decode_uplink("v3/a/devices/gate-7/up", tts("gate-7", "", 1, b"\x01", AT), devices, NOW)
    assert (by_id.lot, list(by_id.berths), list(by_id.ranks)) == ("lot-a", [1], [(NOW - 1877) * 2 + 1])
    topic = "v3/a@ttn/devices/eui-70b3d57ed0000001/up"
    by_eui = decode_uplink(
        topic, tts("eui-70b3d57ed0000001", "70B3D57ED0000001", 1, b"\x00", AT), devices, NOW
    )
    assert (list(by_eui.berths), list(by_eui.ranks)) == ([2], [(NOW - 1877) * 2])


def test_without_any_time_the_uplink_counts_as_received_now() -> None:
    decoded = decode_uplink("v3/a/devices/d/up", tts("d", "", 1, b"\x01", None), index({"d": 0}), NOW)
    assert list(decoded.ranks) == [NOW * 2 + 1]


def test_an_uplink_without_occupancy_changes_nothing_and_is_counted() -> None:
    """Nwave's port 6 debug frame: no berth changes, and it is rejected with its own code rather than
    dropped; its frame counter still counts, so the next uplink shows no false gap."""
    decoded = decode_uplink("v3/a/devices/d/up", tts("d", "", 6, b"\x00\x01", AT), index({"d": 0}), NOW)
    assert decoded.lot == "lot-a"
    assert len(decoded.berths) == 0
    assert [r.code for r in decoded.rejections] == ["no_occupancy"]
    assert decoded.counter is not None


@pytest.mark.parametrize(
    ("topic", "payload", "lot", "code"),
    [
        ("v3/a/devices/nobody/up", tts("nobody", "0000000000000009", 1, b"\x01", AT), None, "unknown_device"),
        ("v3/a/devices/d/up", b"{not json", "lot-a", "invalid_json"),
        ("v3/a/devices/d/up", b"[]", "lot-a", "invalid_payload"),
        ("v3/a/devices/d/up", b'{"uplink_message": 3}', "lot-a", "invalid_payload"),
        ("v3/a/devices/d/up", b'{"uplink_message": {"frm_payload": "!!"}}', "lot-a", "invalid_payload"),
        ("v3/a/devices/d/up", b'{"uplink_message": {"f_port": 300}}', "lot-a", "invalid_payload"),
        ("v3/a/devices/d/up", b'{"uplink_message": {"f_cnt": -1}}', "lot-a", "invalid_payload"),
        ("v3/a/devices/d/up", b'{"received_at": "soon", "uplink_message": {}}', "lot-a", "invalid_payload"),
        ("v3/a/devices/d/up", b'{"uplink_message": {}}', "lot-a", "unknown_port"),
        ("v3/a/devices/d/up", tts("d", "", 1, b"", AT), "lot-a", "undecodable_payload"),
        ("v3/a/devices/d/up", tts("d", "", 9, b"\x01", AT), "lot-a", "unknown_port"),
        ("v3/a/devices/d/up", tts("d", "", 1, b"\x01", "1969-12-31T00:00:00Z"), "lot-a", "ts_out_of_range"),
        ("v3/a/devices/d/up", b"x" * (1024 * 1024 + 1), "lot-a", "payload_too_large"),
        ("sensors/d/up", tts("d", "", 1, b"\x01", AT), None, "unknown_topic"),
    ],
)
def test_rejections(topic: str, payload: bytes, lot: str | None, code: str) -> None:
    decoded = decode_uplink(topic, payload, index({"d": 0}), NOW)
    assert (decoded.lot, codes(decoded)) == (lot, [code])
    assert decoded.rejected_events == 1
    assert len(decoded.berths) == 0


def test_future_receive_times_are_rejected_past_five_minutes() -> None:
    devices = index({"d": 0})
    at = dt.datetime.fromtimestamp((NOW + MAX_FUTURE_MS) / 1000, dt.UTC).isoformat()
    assert not decode_uplink("v3/a/devices/d/up", tts("d", "", 1, b"\x01", at), devices, NOW).rejections
    late = dt.datetime.fromtimestamp((NOW + MAX_FUTURE_MS + 1) / 1000, dt.UTC).isoformat()
    decoded = decode_uplink("v3/a/devices/d/up", tts("d", "", 1, b"\x01", late), devices, NOW)
    assert codes(decoded) == ["ts_in_future"]


def test_a_device_without_codec_is_rejected() -> None:
    decoded = decode_uplink(
        "v3/a/devices/d/up", tts("d", "", 1, b"\x01", AT), index({"d": 0}, codec=None), NOW
    )
    assert (decoded.lot, codes(decoded)) == ("lot-a", ["unknown_codec"])


def test_index_is_case_insensitive_and_counts_devices() -> None:
    devices = index({"70B3D57ED0000001": 0, "gate": 1})
    assert len(devices) == 2
    found = devices.find(("missing", "70b3d57ed0000001"))
    assert found is not None
    assert (found[0], found[1].berth, found[1].codec) == ("70b3d57ed0000001", 0, "nwave-nps405")
    assert devices.find(("GATE",)) is not None
    assert devices.find(("nope",)) is None


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    """Mostly valid two-digit fields, sometimes one digit or out of range."""
    return st.one_of(st.integers(low, high).map("{:02d}".format), st.integers(0, 99).map(str))


RFC3339_LIKE = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    st.one_of(st.integers(1970, 2100).map(str), st.integers(0, 9999).map("{:04d}".format)),
    _two(1, 12),
    st.one_of(_two(1, 28), _two(29, 31)),
    st.sampled_from(["T", "t", " ", "X"]),
    _two(0, 23),
    _two(0, 59),
    _two(0, 60),
    st.one_of(st.just(""), st.text(alphabet="0123456789", min_size=0, max_size=12).map(".{}".format)),
    st.sampled_from(["Z", "z", "+08:00", "-03:30", "+0800", "", "+24:00", "-99:59", "Z\x00", "\u0660"]),
)


def by_pattern(text: str) -> int | None:
    try:
        return rfc3339_ms_by_pattern(text)
    except EnvelopeError:
        return None


@given(RFC3339_LIKE)
def test_rfc3339_fast_path_agrees_with_the_pattern(text: str) -> None:
    try:
        got: int | None = rfc3339_ms(text)
    except EnvelopeError:
        got = None
    assert got == by_pattern(text), text


@settings(max_examples=300)
@given(st.lists(st.one_of(RFC3339_LIKE, st.text(max_size=40)), max_size=20), st.sampled_from([1, MIN_ROWS]))
def test_rfc3339_array_path_agrees_with_the_pattern_where_it_reads(texts: list[str], repeat: int) -> None:
    """What it leaves unread, `rfc3339_ms` reads or refuses one at a time. Repeated, each length
    has enough strings to be read as an array; once, each is read alone."""
    texts *= repeat
    got, read = rfc3339_ms_array(texts)
    assert [int(ms) if ok else None for ms, ok in zip(got, read, strict=True)] == [
        by_pattern(text) if ok else None for text, ok in zip(texts, read, strict=True)
    ]


def test_the_array_path_reads_the_servers_forms_and_any_rfc3339_time_of_up_to_35_characters() -> None:
    texts = [
        "2020-02-12T15:15:46.014773143Z",  # The Things Stack
        "2022-07-18T09:34:15.775023242+00:00",  # ChirpStack
        "2026-11-27T16:00:00.5+08:00",
        "2026-11-27T03:00:00-05:30",
        "2019-01-29t13:02:34.981z",
        "2016-12-31T23:59:60Z",  # a leap second, read as the next second
        "2000-02-29 12:00:00Z",
        "2000-02-29 12:00:00.1234-00:30",
    ]
    for repeat in (1, MIN_ROWS):
        got, read = rfc3339_ms_array(texts * repeat)
        assert read.all()
        assert got.tolist() == [by_pattern(text) for text in texts] * repeat
    refused = [
        "2020-02-12T15:15:46.0147731430Z",  # ten digits of fraction
        "2100-02-29T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2020-13-01T00:00:00Z",
        "2020-01-01T24:00:00Z",
        "2020-01-01T23:60:00Z",
        "2020-01-01T23:59:61Z",
        "2020-01-01T23:59:59.Z",
        "2020-01-01T23:59:59.1+0800",
        "2020-01-01T23:59:59+08:0Z",
    ]
    assert [by_pattern(text) for text in refused] == [None] * len(refused)
    for repeat in (1, MIN_ROWS):
        assert not rfc3339_ms_array(refused * repeat)[1].any()
