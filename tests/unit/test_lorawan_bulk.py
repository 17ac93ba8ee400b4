"""A batch's uplinks decoded together say what `decode_uplink` says of each, one at a time."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from parking_hub.ingest.formats import Decoded
from parking_hub.ingest.lorawan import decode_uplink, decode_uplinks
from parking_hub.ingest.lorawan.times import MIN_ROWS
from parking_hub.rank import MAX_FUTURE_MS, MIN_TS_MS
from tests.fuzz.inputs import (
    CODECS,
    DAY_MS,
    Fuzzed,
    chirpstack_uplinks,
    dev_eui,
    device_id,
    devices,
    rfc3339,
    tts_uplinks,
)

NOW = 1_764_201_600_000
DEVICES = devices()
NWAVE = "nwave-nps405"


@st.composite
def plain_uplinks(draw: st.DrawFn) -> Fuzzed:
    """An Nwave uplink in each server's usual shape: mostly a status, sometimes a debug frame (a
    rejection that still counts its f_cnt); a few f_cnt values, so gaps and repeats occur; times
    mostly valid, some either side of the limits."""
    port, frame = draw(st.sampled_from([(1, b"\x94"), (1, b"\x95"), (6, b"\x00\x01")]))
    f_cnt = draw(st.integers(0, 6))
    ms = draw(
        st.one_of(
            st.integers(NOW - DAY_MS, NOW),
            st.integers(NOW - DAY_MS, NOW),
            st.integers(NOW, NOW + 2 * MAX_FUTURE_MS),
            st.integers(MIN_TS_MS - DAY_MS, MIN_TS_MS + DAY_MS),
        )
    )
    when = rfc3339(ms)
    data = base64.b64encode(frame).decode()
    if draw(st.booleans()):
        doc: dict[str, Any] = {
            "end_device_ids": {"device_id": device_id(NWAVE), "application_ids": {"application_id": "a"}},
            "received_at": when,
            "uplink_message": {"f_port": port, "f_cnt": f_cnt, "frm_payload": data},
        }
        return Fuzzed("tts", f"v3/a/devices/{device_id(NWAVE)}/up", orjson.dumps(doc), [], None)
    eui = dev_eui(CODECS.index(NWAVE))
    doc = {"time": when.replace("Z", "+00:00"), "deviceInfo": {"devEui": eui}, "fPort": port, "fCnt": f_cnt}
    doc["data"] = data
    return Fuzzed("chirpstack", f"application/a/device/{eui}/event/up", orjson.dumps(doc), [], None)


def one_at_a_time(batch: list[Fuzzed]) -> list[Decoded]:
    return [decode_uplink(m.topic, m.payload, DEVICES, NOW) for m in batch]


def reports(decoded: list[Decoded]) -> list[tuple[str | None, int, int]]:
    return [(d.lot, b, r) for d in decoded for b, r in zip(list(d.berths), list(d.ranks), strict=True)]


def rejections(decoded: Decoded) -> list[tuple[str, str, int]]:
    return [(r.code, r.message, r.count) for r in decoded.rejections]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(plain_uplinks(), tts_uplinks(NOW), chirpstack_uplinks(NOW)), max_size=30))
def test_a_batch_decodes_as_each_uplink_alone(batch: list[Fuzzed]) -> None:
    alone = one_at_a_time(batch)
    together = decode_uplinks([m.topic for m in batch], [m.payload for m in batch], DEVICES, NOW)

    got = [*zip(together.lots, together.berths, together.ranks, strict=True)]
    assert sorted(got + reports([d for _, d in together.others])) == sorted(reports(alone))

    rejected = [(m.topic, d.lot, rejections(d)) for m, d in zip(batch, alone, strict=True) if d.rejections]
    assert [(t, d.lot, rejections(d)) for t, d in together.others if d.rejections] == rejected

    # Gaps are found per device in message order, so the counters keep it.
    counters = [(d.lot, *d.counter) for d in alone if d.counter is not None and d.lot is not None]
    assert [c[1:] for c in together.counters] == counters


@settings(max_examples=50, deadline=None)
@given(st.lists(plain_uplinks(), min_size=1, max_size=12))
def test_plain_uplinks_in_large_batches_decode_as_each_alone(batch: list[Fuzzed]) -> None:
    """Enough of them that their times are read as arrays."""
    batch *= MIN_ROWS
    together = decode_uplinks([m.topic for m in batch], [m.payload for m in batch], DEVICES, NOW)
    alone = one_at_a_time(batch)
    got = [*zip(together.lots, together.berths, together.ranks, strict=True)]
    assert sorted(got + reports([d for _, d in together.others])) == sorted(reports(alone))
    counters = [(d.lot, *d.counter) for d in alone if d.counter is not None and d.lot is not None]
    assert [c[1:] for c in together.counters] == counters


@given(st.lists(plain_uplinks(), min_size=1, max_size=20))
def test_plain_uplinks_need_no_one_at_a_time_decoding(batch: list[Fuzzed]) -> None:
    """Status frames in the servers' usual envelopes are read in columns; debug frames and times
    out of range are rejected, so only they are decoded alone."""
    together = decode_uplinks([m.topic for m in batch], [m.payload for m in batch], DEVICES, NOW)
    assert len(together.lots) + len(together.others) == len(batch)
    codes = {"no_occupancy", "ts_in_future", "ts_out_of_range"}
    assert all(rejections(d)[0][0] in codes for _, d in together.others)


def test_an_empty_batch() -> None:
    together = decode_uplinks([], [], DEVICES, NOW)
    assert (together.lots, together.counters, together.others) == ([], [], [])
