"""One LoRaWAN uplink from a network server's MQTT integration to the hub's berth report."""

from __future__ import annotations

from parking_hub.ingest.formats import MAX_PAYLOAD_BYTES, Counter, Decoded, Invalid, Rejection, check_ts
from parking_hub.ingest.lorawan.devices import DeviceIndex
from parking_hub.ingest.lorawan.envelopes import EnvelopeError, LnsTopic, parse_topic, parse_uplink
from parking_hub.ingest.lorawan.vendors import DECODERS, PayloadError
from parking_hub.rank import rank_of


class _Rejected(ValueError):
    def __init__(self, lot: str | None, code: str, message: str) -> None:
        super().__init__(message)
        self.lot = lot
        self.code = code


def decode_uplink(topic: str, payload: bytes, devices: DeviceIndex, now_ms: int) -> Decoded:
    """The berth report an uplink carries; never raises for bad input, everything wrong is a Rejection.

    The observation time is the network's receive time (`received_at` / `time`), else `now_ms`.
    A well-formed uplink that carries no occupancy (device info, debug) is rejected as no_occupancy.
    """
    where = parse_topic(topic)
    if where is None:
        return Decoded(None, rejections=[Rejection("unknown_topic", "the hub does not read this topic")])
    try:
        return _decode(where, payload, devices, now_ms)
    except _Rejected as exc:
        return Decoded(exc.lot, rejections=[Rejection(exc.code, str(exc))])


def _topic_lot(where: LnsTopic, devices: DeviceIndex) -> str | None:
    """The lot of the device the topic names: it names the lot in envelope errors."""
    found = devices.find((where.device,))
    return found[1].lot if found else None


def _decode(where: LnsTopic, payload: bytes, devices: DeviceIndex, now_ms: int) -> Decoded:
    if len(payload) > MAX_PAYLOAD_BYTES:
        size = f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}"
        raise _Rejected(_topic_lot(where, devices), "payload_too_large", size)
    try:
        uplink = parse_uplink(where, payload)
    except EnvelopeError as exc:
        raise _Rejected(_topic_lot(where, devices), exc.code, str(exc)) from None
    found = devices.find(uplink.device_keys)
    if found is None:
        names = " or ".join(repr(key) for key in uplink.device_keys)
        raise _Rejected(None, "unknown_device", f"device {names} is not in the registry")
    key, device = found
    ts = now_ms if uplink.time_ms is None else uplink.time_ms
    try:
        check_ts(ts, now_ms, f"device {key!r}: receive time")
    except Invalid as exc:
        raise _Rejected(device.lot, exc.code, str(exc)) from None
    decoder = DECODERS.get(device.codec or "")
    if decoder is None:
        raise _Rejected(device.lot, "unknown_codec", f"device {key!r} has no known codec in the registry")
    try:
        occupied = decoder(uplink.f_port, uplink.payload, device.threshold_mm)
    except PayloadError as exc:
        raise _Rejected(device.lot, exc.code, f"device {key!r} ({device.codec}): {exc}") from None
    counter = Counter(key, uplink.f_cnt, ts)
    if occupied is None:  # rejected, so that it is counted; its frame counter still counts for gaps
        why = f"device {key!r} ({device.codec}): the frame carries no occupancy"
        return Decoded(device.lot, rejections=[Rejection("no_occupancy", why)], counter=counter)
    return Decoded(device.lot, (device.berth,), (rank_of(ts, int(occupied)),), counter=counter)
