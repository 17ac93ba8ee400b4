"""Decode the hub's own MQTT payloads (batch frames, single berths, gateway status) into arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeGuard

import numpy as np
import numpy.typing as npt
import orjson

from parking_hub.arrays import IntArray
from parking_hub.ingest.topics import ParsedTopic, TopicKind
from parking_hub.rank import rank_of, ts_fault, ts_faults

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_FRAME_EVENTS = 10_000
MAX_GATEWAY_CHARS = 64  # a longer `gateway` is not tracked for seq gaps, so it can not fill the tracker

_EMPTY = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str
    message: str
    count: int = 1


class Counter(NamedTuple):
    """A sender's message counter, for finding lost messages: a gateway's frame `seq`, a LoRaWAN
    device's `f_cnt`; with the newest report time the message carries (0 when none)."""

    sender: str
    number: int
    newest_ts: int


# A single report stays a tuple of plain ints: two one-element arrays per message cost more than the
# rest of its decoding, and the batch builder makes one array of all of them.
Reports = IntArray | tuple[int]


@dataclass(slots=True)
class Decoded:
    """What one MQTT message carries: valid reports (as ranks), a status, and what was rejected."""

    lot: str | None
    berths: Reports = field(default_factory=lambda: _EMPTY)
    ranks: Reports = field(default_factory=lambda: _EMPTY)
    status_rank: int | None = None
    rejections: list[Rejection] = field(default_factory=list)
    counter: Counter | None = None  # the sender's message counter, when the message carries one

    @property
    def rejected_events(self) -> int:
        return sum(r.count for r in self.rejections)


class Invalid(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_ts(ts: int, now_ms: int, what: str = "ts") -> None:
    """Raise Invalid for an observation time the order rule cannot take (see `ts_fault`)."""
    fault = ts_fault(ts, now_ms)
    if fault is not None:
        raise Invalid(fault.code, f"{what} {ts} {fault.why}")


CapacityOf = Callable[[str], int | None]


def decode(topic: ParsedTopic, payload: bytes, capacity_of: CapacityOf, now_ms: int) -> Decoded:
    """Never raises for bad input: everything wrong becomes a Rejection."""
    capacity = capacity_of(topic.lot)
    if capacity is None:
        return Decoded(
            None, rejections=[Rejection("unknown_lot", f"lot {topic.lot!r} is not in the registry")]
        )
    try:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise Invalid(
                "payload_too_large", f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}"
            )
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise Invalid("invalid_json", f"payload is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise Invalid("invalid_payload", "payload must be a JSON object")
        if topic.kind is TopicKind.STATUS:
            return Decoded(topic.lot, status_rank=_status_rank(doc, now_ms))
        if topic.kind is TopicKind.BERTH:
            return _single(topic.lot, topic.berth or "", doc, capacity, now_ms)
        return _frame(topic.lot, doc, capacity, now_ms)
    except Invalid as exc:
        return Decoded(topic.lot, rejections=[Rejection(exc.code, str(exc))])


def _status_rank(doc: dict[str, Any], now_ms: int) -> int:
    online = doc.get("online")
    if not isinstance(online, bool):
        raise Invalid("invalid_payload", 'status needs "online": true or false')
    ts = doc.get("ts", now_ms)
    if not _int(ts):
        raise Invalid("invalid_payload", "ts must be integer milliseconds since the Unix epoch")
    check_ts(ts, now_ms)
    return rank_of(ts, int(online))


def _single(lot: str, berth_text: str, doc: dict[str, Any], capacity: int, now_ms: int) -> Decoded:
    """One berth's report, checked with plain Python: cheaper than arrays for a single event."""
    # isdigit() alone also passes "³" (which int() refuses) and "٣" (which it reads as 3).
    if not (berth_text.isascii() and berth_text.isdigit()):
        raise Invalid(
            "invalid_berth", f"berth {berth_text!r} in the topic is not a berth number (0, 1, 2, ...)"
        )
    if len(berth_text) > 9 or int(berth_text) >= capacity:
        raise Invalid("berth_out_of_range", f"berth {berth_text!r} in the topic is outside 0..{capacity - 1}")
    occupied, ts = doc.get("occupied"), doc.get("ts")
    if occupied is None or ts is None:
        raise Invalid("invalid_payload", 'a berth message needs "occupied" and "ts"')
    if not (_flag(occupied) and _int(ts)):
        raise Invalid("invalid_payload", "ts must be an integer and occupied 0, 1 or a boolean")
    check_ts(ts, now_ms)
    return Decoded(lot, (int(berth_text),), (rank_of(ts, int(occupied)),))


def _frame(lot: str, doc: dict[str, Any], capacity: int, now_ms: int) -> Decoded:
    berth, occupied, ts = doc.get("berth"), doc.get("occupied"), doc.get("ts")
    if not (isinstance(berth, list) and isinstance(occupied, list) and isinstance(ts, list)):
        raise Invalid("invalid_payload", 'a frame needs the arrays "berth", "occupied" and "ts"')
    if not len(berth) == len(occupied) == len(ts):
        raise Invalid("length_mismatch", "berth, occupied and ts must have the same length")
    if len(berth) > MAX_FRAME_EVENTS:
        raise Invalid("batch_too_long", f"{len(berth)} events; a frame holds at most {MAX_FRAME_EVENTS}")
    b, o, t, bad_type = _as_arrays(berth, occupied, ts)
    checks = (
        ("invalid_payload", bad_type, "berth and ts must be integers and occupied 0, 1 or a boolean"),
        ("berth_out_of_range", ~bad_type & ((b < 0) | (b >= capacity)), f"berth outside 0..{capacity - 1}"),
        *((fault.code, ~bad_type & failed, f"ts {fault.why}") for fault, failed in ts_faults(t, now_ms)),
    )
    rejected = np.zeros(len(b), dtype=bool)
    rejections: list[Rejection] = []
    for code, failed, what in checks:
        new = failed & ~rejected
        count = int(new.sum())
        if count:
            first = np.flatnonzero(new)[:10].tolist()
            rejections.append(Rejection(code, f"{count} event(s) rejected at indexes {first}: {what}", count))
            rejected |= new
    keep = ~rejected
    gateway, seq = doc.get("gateway"), doc.get("seq")
    kept_ts = t[keep]
    counter = None
    if isinstance(gateway, str) and len(gateway) <= MAX_GATEWAY_CHARS and _int(seq):
        counter = Counter(gateway, seq, int(kept_ts.max()) if len(kept_ts) else 0)
    return Decoded(lot, b[keep], rank_of(kept_ts, o[keep]), rejections=rejections, counter=counter)


def _as_arrays(
    berth: list[Any], occupied: list[Any], ts: list[Any]
) -> tuple[IntArray, IntArray, IntArray, Any]:
    """Arrays plus a mask of events whose types are wrong; the fast path is one numpy call per array."""
    b, t, o = _ints(berth), _ints(ts), _flags(occupied)
    if b is not None and t is not None and o is not None:
        return b, o, t, np.zeros(len(b), dtype=bool)
    # Slow path, only for frames that carry wrongly typed values: find them one by one.
    ok = [_int(x) and _int(y) and _flag(z) for x, y, z in zip(berth, ts, occupied, strict=True)]
    bad = ~np.asarray(ok, dtype=bool) if ok else np.zeros(0, dtype=bool)
    pick = [i for i, good in enumerate(ok) if good]
    b2 = np.zeros(len(ok), dtype=np.int64)
    t2 = np.zeros(len(ok), dtype=np.int64)
    o2 = np.zeros(len(ok), dtype=np.int64)
    b2[pick] = [berth[i] for i in pick]
    t2[pick] = [ts[i] for i in pick]
    o2[pick] = [int(occupied[i]) for i in pick]
    return b2, o2, t2, bad


def _int(value: object) -> TypeGuard[int]:
    return type(value) is int and -(2**62) < value < 2**62


def _flag(value: object) -> bool:
    return value is True or value is False or (type(value) is int and value in (0, 1))


def _flat(values: list[Any]) -> npt.NDArray[Any] | None:
    """The values as a 1-D array; None when they nest (`[[0]]` is 2-D, `[0, []]` is ragged)."""
    try:
        arr = np.asarray(values) if values else np.zeros(0, dtype=np.int64)
    except ValueError:
        return None
    return arr if arr.ndim == 1 else None


def _ints(values: list[Any]) -> IntArray | None:
    """The values as int64; None unless every one is an int that fits (numpy makes larger ones
    uint64 or objects)."""
    arr = _flat(values)
    return arr.astype(np.int64, copy=False) if arr is not None and arr.dtype.kind == "i" else None


def _flags(values: list[Any]) -> IntArray | None:
    """The values as 0 and 1; None unless every one is a boolean, 0 or 1."""
    arr = _flat(values)
    if arr is None or arr.dtype.kind not in "bi":
        return None
    if arr.dtype.kind == "i" and not ((arr == 0) | (arr == 1)).all():
        return None
    return arr.astype(np.int64, copy=False)
