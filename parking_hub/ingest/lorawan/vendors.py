"""Vendor payload decoders: the occupancy a parking sensor's uplink carries (refs: sensor-formats.md).

Each decoder takes the LoRaWAN port, the frame payload and the device's distance threshold, and
returns True (occupied), False (free), or None for a well-formed message that carries no occupancy
(device information, debug and service frames), which the caller rejects as `no_occupancy`: it never
changes a berth. Status, heartbeat and startup messages all carry the occupancy. Anything else
raises PayloadError with the rejection code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

Decoder = Callable[[int | None, bytes, int | None], bool | None]


class PayloadError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _unknown_port(port: int | None) -> PayloadError:
    return PayloadError("unknown_port", f"port {port} is not one this sensor sends" if port else "no f_port")


def _undecodable(why: str) -> PayloadError:
    return PayloadError("undecodable_payload", why)


def _length(data: bytes, allowed: range, what: str) -> None:
    if len(data) not in allowed:
        raise _undecodable(f"{what} is {len(data)} bytes; expected {allowed.start}..{allowed.stop - 1}")


def bosch_pls(port: int | None, data: bytes, _: int | None) -> bool | None:
    """Bosch PLS TPS110: port 1 status, 2 heartbeat (+ temperature), 3 startup (17 bytes), 4-6 info."""
    if port in (1, 2):  # the vendor's decoder reads byte 0 whatever follows it
        _length(data, range(1, 256), "a status" if port == 1 else "a heartbeat")
        return bool(data[0] & 1)
    if port == 3:
        _length(data, range(17, 18), "a startup message")
        return bool(data[16] & 1)
    if port in (4, 5, 6):  # device information, usage, debug
        return None
    raise _unknown_port(port)


def _nwave(port: int | None, data: bytes, heartbeat_min: int) -> bool | None:
    if port == 1:
        _length(data, range(1, 2), "a status")
        return bool(data[0] & 1)
    if port == 10:  # tag registration: bit 0 set says occupied; clear, it says nothing of the berth
        _length(data, range(5, 7), "a tag registration")
        return True if data[0] & 1 else None
    if port == 2:
        _length(data, range(heartbeat_min, 256), "a heartbeat")
        return bool(data[0] & 1)
    if port == 3:
        _length(data, range(5, 256), "a startup message")
        return bool(data[4] & 1)
    if port == 6:  # debug
        return None
    raise _unknown_port(port)


def nwave_nps405(port: int | None, data: bytes, _: int | None) -> bool | None:
    """Nwave NPS405: port 1 status (bit 0; bits 7..1 the previous state's duration), 2, 3, 6, 10."""
    return _nwave(port, data, heartbeat_min=3)


def nwave_nps310(port: int | None, data: bytes, _: int | None) -> bool | None:
    """Nwave NPS310SM: 1-byte status and heartbeat, 5-byte startup."""
    if port == 10:
        raise _unknown_port(port)
    return _nwave(port, data, heartbeat_min=1)


# Byte 0 of every frame: bit 7 the slot status (1 occupied), bits 3..0 the frame type. Firmware v2
# and later send 11-byte frames: 0 info (the status changed), 1 keep-alive, 2 daily update, 3 error,
# 4 and 5 start, and from v3 6 service, 7 downlink, 8 rssi. Firmware v1 sends 12-byte frames of
# types 0 to 5. The other types are reserved.
_LIBELIUM_TYPES = {11: range(9), 12: range(6)}


def libelium_parking(port: int | None, data: bytes, _: int | None) -> bool:
    """Libelium Smart Parking: 11-byte (v2, v3) or 12-byte (v1) frames; byte 0 bit 7 = slot occupied."""
    types = _LIBELIUM_TYPES.get(len(data))
    if types is None:
        raise _undecodable(f"a frame is 11 or 12 bytes, not {len(data)}")
    if data[0] & 0x0F not in types:
        raise _undecodable(f"frame type {data[0] & 0x0F} is reserved in {len(data)}-byte frames")
    return bool(data[0] >> 7)


def _records(data: bytes, sizes: Mapping[tuple[int, int], int]) -> list[tuple[int, int, bytes]]:
    """(channel, type, value) records up to the first one of unknown type; trailing bytes are ignored."""
    records = []
    i = 0
    while i + 2 <= len(data) and (data[i], data[i + 1]) in sizes:
        size = sizes[data[i], data[i + 1]]
        if i + 2 + size > len(data):
            break
        records.append((data[i], data[i + 1], data[i + 2 : i + 2 + size]))
        i += 2 + size
    if not records:
        raise _undecodable("no record of a known channel and type")
    return records


_PNI_SIZES = {
    (0x01, 0x01): 1,  # recalibrate response
    (0x02, 0x67): 2,  # temperature, 0.1 degC
    (0x03, 0x02): 2,  # battery, 0.01 V
    (0x15, 0x66): 1,  # parking status
    (0x1C, 0x01): 1,  # deactivate response
    (0x21, 0x00): 1,  # vehicle count
    (0x37, 0x66): 1,  # keep-alive with status
    (0x37, 0x00): 1,  # keep-alive with count
    (0x3F, 0x01): 1,  # reboot response
}


def pni_placepod(port: int | None, data: bytes, _: int | None) -> bool | None:
    """PNI PlacePod: (channel, type, value) records; `15 66 xx` status, `37 66 xx` keep-alive."""
    occupied = None
    for channel, kind, value in _records(data, _PNI_SIZES):
        if kind == 0x66 and channel in (0x15, 0x37):
            # The last status record decides; one that is neither 0 nor 1 the vendor's parser calls
            # unknown: no occupancy.
            occupied = bool(value[0]) if value[0] <= 1 else None
    return occupied


def tekzipark(port: int | None, data: bytes, _: int | None) -> bool | None:
    """TEKZIPARK: port 1 = flags (bit 7 occupied; keep-alive and reset flags), temperature, id."""
    # Port 2, the magnetometer report, starts with the same three bytes, occupancy flag included.
    if port in (1, 2):
        _length(data, range(3, 256), "a status" if port == 1 else "a magnetometer report")
        return bool(data[0] >> 7)
    raise _unknown_port(port)


_MILESIGHT_SIZES = {
    (0x01, 0x75): 1,  # battery, %
    (0x03, 0x67): 2,  # temperature, int16 LE, 0.1 degC
    (0x04, 0x82): 2,  # distance, uint16 LE, mm
    (0x05, 0x00): 1,  # position: 0 normal, 1 tilt
    (0x83, 0x67): 3,  # temperature + abnormal flag
    (0x84, 0x82): 3,  # distance, uint16 LE, mm + alarm flag: sent while the distance alarm holds
    # device information, sent after a join or a reset: no distance
    (0xFF, 0x01): 1,  # protocol version
    (0xFF, 0x09): 2,  # hardware version
    (0xFF, 0x0A): 2,  # firmware version
    (0xFF, 0x0B): 1,  # device status: on
    (0xFF, 0x0F): 1,  # LoRaWAN class
    (0xFF, 0x16): 8,  # serial number
    (0xFF, 0xFE): 1,  # reset event
    (0xFF, 0xFF): 2,  # TSL version
}
# Replies to configuration downlinks, on channel FE or FF: the setting's type and its size (intervals,
# alarm rule, reboot, install height, recollection, status query, tilt, time sync, ToF, heights, mode).
_MILESIGHT_REPLIES = {
    0x02: 2, 0x03: 2, 0x06: 9, 0x10: 1, 0x13: 1, 0x1C: 2, 0x28: 1,
    0x3E: 1, 0x4A: 1, 0x56: 1, 0x70: 2, 0x71: 1, 0x77: 2,
}  # fmt: skip
_MILESIGHT_SIZES |= {
    (channel, kind): size for channel in (0xFE, 0xFF) for kind, size in _MILESIGHT_REPLIES.items()
}
_MILESIGHT_DISTANCE = ((0x04, 0x82), (0x84, 0x82))


def _below(distance_mm: int, threshold_mm: int | None) -> bool:
    if threshold_mm is None:
        raise PayloadError("invalid_device", "a distance sensor needs threshold_mm in the registry")
    return distance_mm < threshold_mm


def milesight_em400(port: int | None, data: bytes, threshold_mm: int | None) -> bool | None:
    """Milesight EM400-MUD: channel records on port 85; occupied when the distance is below threshold."""
    if port != 85:
        raise _unknown_port(port)
    occupied = None
    for channel, kind, value in _records(data, _MILESIGHT_SIZES):
        if (channel, kind) in _MILESIGHT_DISTANCE:
            occupied = _below(int.from_bytes(value[:2], "little"), threshold_mm)
    return occupied


def dragino_ldds75(port: int | None, data: bytes, threshold_mm: int | None) -> bool:
    """Dragino LDDS75: port 2, battery (2) + distance mm (2, big-endian) + flag [+ temperature, flag].

    5 bytes with firmware 1.2 (the flag: sent by an interrupt); 8 with firmware 1.1.4, which adds the
    DS18B20 temperature and the sensor flag.
    """
    if port != 2:
        raise _unknown_port(port)
    if len(data) not in (5, 8):  # the vendor's decoders say "No Sensor"
        raise _undecodable(f"a reading is 5 or 8 bytes, not {len(data)} (the sensor reports no distance)")
    distance = int.from_bytes(data[2:4], "big")
    if distance < 20:  # 0 = no sensor attached; below 20 mm the vendor's decoders say "Invalid Reading"
        raise _undecodable(f"distance {distance} mm is not a valid reading")
    return _below(distance, threshold_mm)


DECODERS: dict[str, Decoder] = {
    "bosch-pls": bosch_pls,
    "nwave-nps405": nwave_nps405,
    "nwave-nps310": nwave_nps310,
    "libelium-parking": libelium_parking,
    "pni-placepod": pni_placepod,
    "tekzipark": tekzipark,
    "milesight-em400": milesight_em400,
    "dragino-ldds75": dragino_ldds75,
}
