"""A batch's uplinks decoded together: the plain ones in columns, the rest one by one.

Most uplinks are plain: a known device's envelope in its usual shape, with its receive time,
whose vendor frame carries an occupancy. Those are read in one loop without an object per uplink,
their receive times read together (`times.py`) and checked as one array. Any other uplink (a
rejection, an envelope in a rarer shape such as a gateway's time instead of the server's) goes
through `decode_uplink`, the definition: whatever it says of an uplink stands, here and in the
reports.
"""

from __future__ import annotations

import binascii
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import numpy as np
import orjson

from parking_hub.ingest.formats import MAX_PAYLOAD_BYTES, Decoded
from parking_hub.ingest.lorawan.decode import decode_uplink
from parking_hub.ingest.lorawan.devices import DeviceEntry, DeviceIndex
from parking_hub.ingest.lorawan.envelopes import parse_topic
from parking_hub.ingest.lorawan.times import rfc3339_ms_array
from parking_hub.ingest.lorawan.vendors import DECODERS, PayloadError
from parking_hub.rank import rank_of, ts_faults

_NO_FIELDS: dict[str, Any] = {}  # an absent object reads as empty; never written to
# (message index, lot, sender, frame counter, receive time ms): the index orders them
CounterAt = tuple[int, str, str, int, int]


@dataclass(slots=True)
class Uplinks:
    """What a batch's uplinks carry: berth reports as columns, every device's frame counter in
    message order (for gaps), and each uplink that is not a plain report with its topic."""

    lots: list[str] = field(default_factory=list)  # one per report
    berths: list[int] = field(default_factory=list)
    ranks: list[int] = field(default_factory=list)
    counters: list[CounterAt] = field(default_factory=list)
    others: list[tuple[str, Decoded]] = field(default_factory=list)


class _Plain(Exception):
    """Not a plain uplink: `decode_uplink` reads it."""


def decode_uplinks(
    topics: Sequence[str], payloads: Sequence[bytes], devices: DeviceIndex, now_ms: int
) -> Uplinks:
    """`decode_uplink` of each message, in columns; never raises for bad input."""
    plain: list[tuple[DeviceEntry, str, int, bool, str]] = []
    at: list[int] = []  # the plain uplinks' message indexes
    others: list[int] = []
    for i, (topic, payload) in enumerate(zip(topics, payloads, strict=True)):
        try:
            plain.append(_plain(topic, payload, devices))
        except _Plain:
            others.append(i)
            continue
        at.append(i)
    out = Uplinks()
    if plain:
        entries, senders, f_cnts, occupied, times = zip(*plain, strict=True)
        ms, ok = rfc3339_ms_array(times)
        for _, faulty in ts_faults(ms, now_ms):
            ok &= ~faulty
        keep = ok.tolist()
        if not ok.all():
            others = sorted(others + list(compress(at, ~ok)))
        lots = [entry.lot for entry in entries]
        out.lots = list(compress(lots, keep))
        out.berths = list(compress([entry.berth for entry in entries], keep))
        out.ranks = list(compress(rank_of(ms, np.asarray(occupied)).tolist(), keep))
        out.counters = list(compress(zip(at, lots, senders, f_cnts, ms.tolist(), strict=True), keep))
    slow_counters: list[CounterAt] = []
    for i in others:
        decoded = decode_uplink(topics[i], payloads[i], devices, now_ms)
        out.others.append((topics[i], decoded))
        counter = decoded.counter
        if counter is not None and decoded.lot is not None:
            slow_counters.append((i, decoded.lot, counter.sender, counter.number, counter.newest_ts))
    if slow_counters:
        out.counters = list(heapq.merge(out.counters, slow_counters))
    return out


def _plain(topic: str, payload: bytes, devices: DeviceIndex) -> tuple[DeviceEntry, str, int, bool, str]:
    """A plain uplink's device, registry key, frame counter, occupancy and receive time (not yet
    read); raises _Plain for anything else. Each check is one `decode_uplink` makes, or stricter."""
    where = parse_topic(topic)
    if where is None or len(payload) > MAX_PAYLOAD_BYTES:
        raise _Plain
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise _Plain from None
    if type(doc) is not dict:
        raise _Plain
    read = _tts if where.server == "tts" else _chirpstack
    entry, key, time, port, f_cnt, data = read(where.device, doc, devices)
    if f_cnt is None:
        f_cnt = 0
    if (
        entry is None
        or type(time) is not str
        or type(port) is not int
        or not 0 <= port <= 255
        or type(f_cnt) is not int
        or not 0 <= f_cnt < 2**32
        or not (data is None or type(data) is str)
    ):
        raise _Plain
    decoder = DECODERS.get(entry.codec or "")
    if decoder is None:
        raise _Plain
    try:
        frame = b"" if data is None else binascii.a2b_base64(data, strict_mode=True)
        flag = decoder(port, frame, entry.threshold_mm)
    except (binascii.Error, PayloadError):
        raise _Plain from None
    if flag is None:
        raise _Plain
    return entry, key, f_cnt, flag, time


# The device's entry and registry key, then the receive time, port, frame counter and payload as found.
_Fields = tuple[DeviceEntry | None, str, object, object, object, object]


def _tts(device_id: str, doc: dict[str, Any], devices: DeviceIndex) -> _Fields:
    up, ids = doc.get("uplink_message"), doc.get("end_device_ids", _NO_FIELDS)
    if type(up) is not dict or type(ids) is not dict:
        raise _Plain
    key, entry = device_id, devices.get(device_id)
    eui = ids.get("dev_eui")
    if entry is None and type(eui) is str and eui:
        key, entry = eui, devices.get(eui)
    return entry, key, doc.get("received_at"), up.get("f_port"), up.get("f_cnt"), up.get("frm_payload")


def _chirpstack(dev_eui: str, doc: dict[str, Any], devices: DeviceIndex) -> _Fields:
    info = doc.get("deviceInfo", _NO_FIELDS)
    if type(info) is not dict:
        raise _Plain
    key, entry = dev_eui, None
    eui = info.get("devEui")
    if type(eui) is str and eui:
        key, entry = eui, devices.get(eui)
    if entry is None:
        key, entry = dev_eui, devices.get(dev_eui)
    return entry, key, doc.get("time"), doc.get("fPort"), doc.get("fCnt"), doc.get("data")
