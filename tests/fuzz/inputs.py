"""Generated MQTT input for every path the hub reads, each with what the hub must make of it.

Batch frames, per-berth messages and gateway status are built valid or broken in known ways, so
each carries its expected valid events and rejected-event count. LoRaWAN uplinks (The Things Stack
and ChirpStack envelopes around arbitrary vendor bytes) carry no such expectation: whether random
bytes decode is the vendor decoder's call, so for them the checks are the decoder's own invariants.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from hypothesis import strategies as st

from parking_hub.ingest import lorawan
from parking_hub.ingest.formats import Decoded, decode
from parking_hub.ingest.lorawan import DeviceIndex
from parking_hub.ingest.lorawan.vendors import DECODERS
from parking_hub.ingest.topics import Topics
from parking_hub.rank import MAX_FUTURE_MS, MIN_TS_MS
from parking_hub.registry import parse_feature
from tests.operators_guide import REJECTION_CODES

LOT, CAPACITY = "fz-lot", 40
UNKNOWN_LOT = "fz-nowhere"
DAY_MS = 86_400_000
# Times "in the future" are this far ahead, so they stay so while a large run is published.
FAR_AHEAD_MS = 3_600_000
THRESHOLD_MM = 1_000


def device_id(codec: str) -> str:
    return f"fz-{codec}"


def dev_eui(n: int) -> str:
    return f"F0ED{n:012X}"


CODECS = sorted(DECODERS)


def registry_feature() -> dict[str, Any]:
    """The lot every generated message may name: one TTS device id and one DevEUI per codec."""
    devices: dict[str, Any] = {}
    for n, codec in enumerate(CODECS):
        devices[device_id(codec)] = {"berth": n, "codec": codec, "threshold_mm": THRESHOLD_MM}
        devices[dev_eui(n)] = {"berth": len(CODECS) + n, "codec": codec, "threshold_mm": THRESHOLD_MM}
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [120.3, 36.0]},
        "properties": {"id": LOT, "kind": "on_street", "capacity": CAPACITY, "devices": devices},
    }


def capacity_of(lot: str) -> int | None:
    return CAPACITY if lot == LOT else None


@dataclass(frozen=True, slots=True)
class Fuzzed:
    kind: str  # events, berth, status, tts, chirpstack
    topic: str  # under the prefix for the hub's own formats; the network server's topic otherwise
    payload: bytes
    events: list[tuple[int, int]] = field(default_factory=list)  # (berth, rank) the hub must apply
    rejected: int | None = 0  # rejected events it must count; None: the decoder decides (LoRaWAN)

    def full_topic(self, prefix: str) -> str:
        return f"{prefix}/v1/lots/{self.topic}" if self.kind in ("events", "berth", "status") else self.topic


# ---- the hub's own formats: each event valid, or broken in exactly one way --------------------

JUNK = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.floats(allow_nan=False),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=2),
)


def _ts_valid(now_ms: int) -> st.SearchStrategy[int]:
    return st.integers(now_ms - DAY_MS, now_ms)


def _occupied() -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(0, 1), st.booleans())


def _rank(ts: int, occupied: Any) -> int:
    return ts * 2 + int(occupied)


@st.composite
def frame_event(draw: st.DrawFn, now_ms: int) -> tuple[Any, Any, Any, bool]:
    """(berth, occupied, ts, valid)."""
    berth: Any = draw(st.integers(0, CAPACITY - 1))
    occupied: Any = draw(_occupied())
    ts: Any = draw(_ts_valid(now_ms))
    flaw = draw(st.sampled_from(["none", "none", "none", "range", "type", "ts", "future"]))
    if flaw == "range":
        berth = draw(st.one_of(st.integers(CAPACITY, 2**40), st.integers(-(2**40), -1)))
    elif flaw == "type":
        which = draw(st.sampled_from(["berth", "occupied", "ts"]))
        bad = draw(st.one_of(JUNK, st.integers(2, 9)) if which == "occupied" else JUNK)
        berth, occupied, ts = (
            bad if which == "berth" else berth,
            bad if which == "occupied" else occupied,
            bad if which == "ts" else ts,
        )
    elif flaw == "ts":
        ts = draw(st.one_of(st.integers(-(2**40), MIN_TS_MS - 1), st.integers(2**51, 2**61)))
    elif flaw == "future":
        ts = draw(st.integers(now_ms + FAR_AHEAD_MS, now_ms + 30 * DAY_MS))
    return berth, occupied, ts, flaw == "none"


@st.composite
def frames(draw: st.DrawFn, now_ms: int) -> Fuzzed:
    events = draw(st.lists(frame_event(now_ms), max_size=30))
    body: dict[str, Any] = {
        "berth": [e[0] for e in events],
        "occupied": [e[1] for e in events],
        "ts": [e[2] for e in events],
    }
    if draw(st.booleans()):
        body |= {"gateway": draw(st.text(max_size=8)), "seq": draw(st.integers(0, 2**31))}
    valid = [(int(b), _rank(t, o)) for b, o, t, ok in events if ok]
    whole = draw(st.sampled_from(["fine"] * 6 + ["mismatch", "missing", "not_object", "not_json"]))
    if whole == "fine":
        return Fuzzed("events", f"{LOT}/events", orjson.dumps(body), valid, len(events) - len(valid))
    if whole == "mismatch":
        body["ts"] = [*body["ts"], 1]
    elif whole == "missing":
        del body[draw(st.sampled_from(["berth", "occupied", "ts"]))]
    payload = orjson.dumps(body)
    if whole == "not_object":
        payload = orjson.dumps(list(body.values()))
    elif whole == "not_json":
        # Cut anywhere, then a byte that is never valid UTF-8, so the result is never JSON.
        payload = (
            payload[: draw(st.integers(0, max(0, len(payload) - 1)))] + b"\xff" + draw(st.binary(max_size=4))
        )
    return Fuzzed("events", f"{LOT}/events", payload, [], 1)


@st.composite
def berth_messages(draw: st.DrawFn, now_ms: int) -> Fuzzed:
    berth, occupied, ts, ok = draw(frame_event(now_ms))
    body = {"occupied": occupied, "ts": ts}
    address = draw(st.sampled_from(["number", "number", "number", "text"]))
    if address == "text" or not isinstance(berth, int) or isinstance(berth, bool):
        # Topic text that is no berth number: digits of other scripts, signs, words.
        # No control characters: brokers refuse them in topics (and drop the connection).
        letters = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="/+#")
        berth = draw(st.text(letters, min_size=1, max_size=6))
        ok = False
        if berth.isascii() and berth.isdigit() and int(berth) < CAPACITY:
            berth = str(int(berth) + CAPACITY)
    if draw(st.integers(0, 9)) == 0:
        del body[draw(st.sampled_from(["occupied", "ts"]))]
        ok = False
    topic = f"{LOT}/berths/{berth}"
    if ok:
        return Fuzzed("berth", topic, orjson.dumps(body), [(int(berth), _rank(ts, occupied))], 0)
    return Fuzzed("berth", topic, orjson.dumps(body), [], 1)


@st.composite
def status_messages(draw: st.DrawFn, now_ms: int) -> Fuzzed:
    online = draw(st.one_of(st.booleans(), st.booleans(), JUNK))
    body: dict[str, Any] = {"online": online}
    ts = draw(
        st.one_of(st.none(), _ts_valid(now_ms), JUNK, st.integers(now_ms + FAR_AHEAD_MS, now_ms + DAY_MS))
    )
    if ts is not None:
        body["ts"] = ts
    ok = isinstance(online, bool) and (ts is None or (type(ts) is int and 0 < ts <= now_ms + MAX_FUTURE_MS))
    return Fuzzed("status", f"{LOT}/status", orjson.dumps(body), [], 0 if ok else 1)


@st.composite
def unknown_lot_messages(draw: st.DrawFn, now_ms: int) -> Fuzzed:
    inner = draw(st.one_of(frames(now_ms), berth_messages(now_ms), status_messages(now_ms)))
    return Fuzzed(inner.kind, inner.topic.replace(LOT, UNKNOWN_LOT, 1), inner.payload, [], 1)


# ---- LoRaWAN: envelopes around vendor bytes -----------------------------------------------------


def rfc3339(ms: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(now_ms: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        _ts_valid(now_ms).map(rfc3339),
        st.integers(now_ms + FAR_AHEAD_MS, now_ms + 30 * DAY_MS).map(rfc3339),
        st.text(max_size=30),
        JUNK,
    )


# Record headers of the record codecs (PNI, Milesight), known and unknown, so that generated payloads
# reach past the first record.
_RECORD_HEADERS = [
    bytes.fromhex(header)
    for header in ("1566", "3766", "3700", "0267", "0175", "0482", "8482", "FF0B", "FF16", "FE06", "FF55")
]
vendor_bytes = st.one_of(
    st.binary(max_size=32),
    st.lists(st.tuples(st.sampled_from(_RECORD_HEADERS), st.binary(max_size=9)), max_size=5).map(
        lambda records: b"".join(header + value for header, value in records)
    ),
)


def _frm(draw: st.DrawFn) -> Any:
    data = draw(vendor_bytes)
    return draw(
        st.sampled_from(
            [base64.b64encode(data).decode(), base64.b64encode(data).decode(), "not base64!", None, 7]
        )
    )


def _port(draw: st.DrawFn) -> Any:
    return draw(
        st.one_of(st.integers(1, 10), st.sampled_from([0, 85, 102, 136, 255, 256, -1]), st.none(), JUNK)
    )


@st.composite
def tts_uplinks(draw: st.DrawFn, now_ms: int) -> Fuzzed:
    device = draw(
        st.one_of(st.sampled_from(CODECS).map(device_id), st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True))
    )
    up: dict[str, Any] = {
        "f_port": _port(draw),
        "f_cnt": draw(st.one_of(st.integers(0, 2**33), JUNK)),
        "frm_payload": _frm(draw),
    }
    doc: dict[str, Any] = {
        "end_device_ids": {
            "device_id": device,
            "dev_eui": draw(st.one_of(st.just(dev_eui(0)), st.text(max_size=16))),
        },
        "received_at": draw(_time(now_ms)),
        "uplink_message": up,
    }
    for key in draw(
        st.lists(st.sampled_from(["received_at", "end_device_ids", "uplink_message"]), max_size=1)
    ):
        doc[key] = draw(JUNK)
    payload = orjson.dumps(doc) if draw(st.integers(0, 9)) else draw(st.binary(max_size=40))
    return Fuzzed("tts", f"v3/parking@fuzz/devices/{device}/up", payload, [], None)


@st.composite
def chirpstack_uplinks(draw: st.DrawFn, now_ms: int) -> Fuzzed:
    eui = draw(
        st.one_of(
            st.integers(0, len(CODECS) - 1).map(dev_eui), st.from_regex(r"[0-9a-f]{16}", fullmatch=True)
        )
    )
    doc: dict[str, Any] = {
        "deviceInfo": {"devEui": draw(st.one_of(st.just(eui), st.text(max_size=16)))},
        "time": draw(_time(now_ms)),
        "fPort": _port(draw),
        "fCnt": draw(st.one_of(st.integers(0, 2**33), JUNK)),
        "data": _frm(draw),
    }
    for key in draw(st.lists(st.sampled_from(list(doc)), max_size=2, unique=True)):
        del doc[key]
    payload = orjson.dumps(doc) if draw(st.integers(0, 9)) else draw(st.binary(max_size=40))
    return Fuzzed("chirpstack", f"application/fuzz-app/device/{eui}/event/up", payload, [], None)


def messages(now_ms: int) -> st.SearchStrategy[Fuzzed]:
    """Any input the hub reads, in the proportions a stream of mostly sane traffic might have."""
    return st.one_of(
        frames(now_ms),
        berth_messages(now_ms),
        status_messages(now_ms),
        unknown_lot_messages(now_ms),
        tts_uplinks(now_ms),
        chirpstack_uplinks(now_ms),
    )


vendor_inputs = st.tuples(
    st.sampled_from(CODECS),
    st.one_of(st.none(), st.integers(0, 255), st.sampled_from([1, 2, 3, 6, 10, 85])),
    vendor_bytes,
    st.one_of(st.none(), st.integers(0, 10_000)),
)


def devices() -> DeviceIndex:
    return DeviceIndex([parse_feature(registry_feature())])


def hub_decode(message: Fuzzed, prefix: str, devices: DeviceIndex, now_ms: int) -> Decoded:
    """What the ingest loop makes of one message (its dispatch: own topics, else LoRaWAN)."""
    topic = message.full_topic(prefix)
    parsed = Topics(prefix).parse(topic)
    if parsed is not None:
        return decode(parsed, message.payload, capacity_of, now_ms)
    return lorawan.decode_uplink(topic, message.payload, devices, now_ms)


def problems(message: Fuzzed, decoded: Decoded, now_ms: int) -> list[str]:
    """How `decoded` breaks the rules for `message`; empty when it does not."""
    out = []
    unknown = {r.code for r in decoded.rejections} - REJECTION_CODES
    if unknown:
        out.append(f"unknown rejection codes {sorted(unknown)}")
    if any(not r.message for r in decoded.rejections):
        out.append("a rejection without a message")
    events = sorted(zip(list(decoded.berths), list(decoded.ranks), strict=True))
    if any(not 0 <= b < CAPACITY or r <= 0 or r >> 1 > now_ms + MAX_FUTURE_MS for b, r in events):
        out.append(f"an event out of bounds: {events}")
    if message.rejected is None:  # decided by the decoder: only what every message of the kind obeys
        most = {"berth": 1, "status": 1, "tts": 1, "chirpstack": 1}.get(message.kind)
        if most is not None and len(events) + len(decoded.rejections) > most:
            out.append(f"one {message.kind} message gave {events} and {decoded.rejections}")
    else:
        if decoded.rejected_events != message.rejected:
            out.append(f"rejected {decoded.rejected_events} events, expected {message.rejected}")
        if events != sorted(message.events):
            out.append(f"applied {events}, expected {sorted(message.events)}")
    return out


# ---- byte-level mutants: many more inputs than Hypothesis builds in the time ---------------------

TOKENS = (b"null", b"[]", b"{}", b"-1", b"0", b"1e999", b'"', b"true", b"9" * 20, b"\\u0000", b",", b"]")


def mutants(corpus: Sequence[Fuzzed], count: int, seed: int) -> list[Fuzzed]:
    """`count` messages, each a generated one with its payload cut, spliced or overwritten at random
    places; what they must give is the decoder's call (`rejected=None`)."""
    rng = np.random.default_rng(seed)
    out = []
    for pick in rng.integers(0, len(corpus), count):
        base = corpus[int(pick)]
        data = bytearray(base.payload)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(data) + 1))
            how = int(rng.integers(0, 4))
            if how == 0 and data:
                data[min(at, len(data) - 1)] = int(rng.integers(0, 256))
            elif how == 1:
                del data[at : at + int(rng.integers(1, 8))]
            elif how == 2:
                data[at:at] = TOKENS[int(rng.integers(0, len(TOKENS)))]
            else:
                data[at:at] = data[: int(rng.integers(0, 16))]
        out.append(Fuzzed(base.kind, base.topic, bytes(data), [], None))
    return out
