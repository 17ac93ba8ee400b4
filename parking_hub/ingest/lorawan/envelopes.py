"""Network-server envelopes: The Things Stack v3 and ChirpStack v4 uplinks, as MQTT delivers them.

Both omit zero-valued fields (TTS: "empty fields are omitted"; ChirpStack: the Protobuf JSON
mapping), so a missing `f_port`/`fPort` means "not given", a missing `f_cnt`/`fCnt` means 0, and a
missing `frm_payload`/`data` means an empty payload. `decoded_payload` and `object` are never used:
they exist only where the operator configured a payload formatter.
"""

from __future__ import annotations

import binascii
import datetime as dt
import re
from typing import Any, NamedTuple

import orjson

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # \d is 0-9 only: RFC 3339 has no other digits
)
# The same shape without its groups: fromisoformat also takes ISO 8601 forms RFC 3339 does not
# (basic format, week dates, offsets without a colon, a comma before the fraction).
_RFC3339_SHAPE = re.compile(
    r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[Zz]|[+-]\d\d:\d\d)", re.ASCII
)


class EnvelopeError(ValueError):
    """The message is not a usable uplink; `code` is the rejection code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Uplink(NamedTuple):
    """What the hub needs of one uplink, whichever network server sent it."""

    device_keys: tuple[str, ...]  # registry keys to try, most specific first
    f_port: int | None
    f_cnt: int
    payload: bytes
    time_ms: int | None  # when the network received it; None when the envelope names no time


class LnsTopic(NamedTuple):
    server: str  # "tts" or "chirpstack"
    device: str  # TTS device id, or ChirpStack DevEUI


def parse_topic(topic: str) -> LnsTopic | None:
    """`v3/{app}[@{tenant}]/devices/{device_id}/up` or `application/{app}/device/{dev_eui}/event/up`."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == "v3" and parts[2] == "devices" and parts[4] == "up":
        server = "tts"
    elif (
        len(parts) == 6
        and parts[0] == "application"
        and parts[2] == "device"
        and parts[4:] == ["event", "up"]
    ):
        server = "chirpstack"
    else:
        return None
    return LnsTopic(server, parts[3]) if parts[1] and parts[3] else None


def rfc3339_ms(text: object) -> int:
    """Integer milliseconds since the epoch of an RFC 3339 time (nanoseconds allowed, truncated)."""
    if isinstance(text, str) and _RFC3339_SHAPE.fullmatch(text):
        # The common case in C, about a tenth of the cost; it refuses leap seconds and lower-case
        # designators, which the regular expression below then reads.
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if when.tzinfo is not None:
                return (when - _EPOCH) // _MILLISECOND
    return rfc3339_ms_by_pattern(text)


def rfc3339_ms_by_pattern(text: object) -> int:
    """`rfc3339_ms` by the regular expression alone: the definition the fast path must agree with."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise EnvelopeError("invalid_payload", f"time {text!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    try:
        days = dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise EnvelopeError("invalid_payload", f"time {text!r} is not a calendar date") from None
    if hour > 23 or minute > 59 or second > 60:
        raise EnvelopeError("invalid_payload", f"time {text!r} is not a time of day")
    offset_s = 0
    if match.group(9):
        offset_s = (int(match.group(10)) * 3600 + int(match.group(11)) * 60) * (
            -1 if match.group(9) == "-" else 1
        )
    millis = int((match.group(7) or "0").ljust(3, "0")[:3])
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s
    return seconds * 1000 + millis


def parse_uplink(topic: LnsTopic, payload: bytes) -> Uplink:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError("invalid_json", f"payload is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise EnvelopeError("invalid_payload", "an uplink must be a JSON object")
    if topic.server == "tts":
        return _tts(topic.device, doc)
    return _chirpstack(topic.device, doc)


def _tts(device_id: str, doc: dict[str, Any]) -> Uplink:
    up = doc.get("uplink_message")
    if not isinstance(up, dict):
        raise EnvelopeError("invalid_payload", 'a TTS uplink needs an "uplink_message" object')
    ids = _object(doc, "end_device_ids")
    keys = [device_id]
    dev_eui = ids.get("dev_eui")
    if isinstance(dev_eui, str) and dev_eui:
        keys.append(dev_eui)
    # received_at (application server) first; the network server's and a gateway's time as fallbacks.
    when = doc.get("received_at")
    if when is None:
        when = up.get("received_at")
    if when is None:
        when = _first_gateway_time(up, "rx_metadata")
    return Uplink(
        tuple(keys),
        _port(up.get("f_port")),
        _count(up.get("f_cnt")),
        _base64(up.get("frm_payload")),
        None if when is None else rfc3339_ms(when),
    )


def _chirpstack(dev_eui: str, doc: dict[str, Any]) -> Uplink:
    info = _object(doc, "deviceInfo")
    body_eui = info.get("devEui")
    keys = [body_eui, dev_eui] if isinstance(body_eui, str) and body_eui else [dev_eui]
    when = doc.get("time")
    if when is None:
        when = _first_gateway_time(doc, "rxInfo")
    return Uplink(
        tuple(keys),
        _port(doc.get("fPort")),
        _count(doc.get("fCnt")),
        _base64(doc.get("data")),
        None if when is None else rfc3339_ms(when),
    )


def _object(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise EnvelopeError("invalid_payload", f'"{name}" must be an object')
    return value


def _first_gateway_time(doc: dict[str, Any], name: str) -> object:
    gateways = doc.get(name)
    if isinstance(gateways, list):
        for gateway in gateways:
            if isinstance(gateway, dict):
                when = gateway.get("time", gateway.get("gwTime"))
                if when is not None:
                    return when
    return None


def _port(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= 255:
        raise EnvelopeError("invalid_payload", f"f_port {value!r} is not a LoRaWAN port (0..255)")
    return value


def _count(value: object) -> int:
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value < 2**32:
        raise EnvelopeError("invalid_payload", f"f_cnt {value!r} is not a 32-bit frame counter")
    return value


def _base64(value: object) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise EnvelopeError("invalid_payload", "the frame payload must be a base64 string")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except binascii.Error as exc:
        raise EnvelopeError("invalid_payload", f"the frame payload is not base64: {exc}") from None
