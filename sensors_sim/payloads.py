"""Vendor uplink payloads for each codec, built from the layouts in refs/sensor-formats.md.

Written apart from the hub's decoders on purpose: the two check each other in the tests, and the
encoders also reproduce the vendors' own test vectors byte for byte. Each builder makes a uint8
matrix for a group of uplinks at once (one row per uplink).
"""

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Self

import numpy as np
import numpy.typing as npt

from sensors_sim.hardware import HEARTBEAT, STARTUP, STATUS, Uplinks
from sensors_sim.rand import Stream

U8Array = npt.NDArray[np.uint8]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Readings:
    """What goes into the payloads of a group of uplinks, one element per uplink."""

    berth: IntArray
    occupied: IntArray
    kind: IntArray
    fcnt: IntArray
    prev_ms: IntArray
    temperature_dc: IntArray  # tenths of a degree Celsius
    battery_mv: IntArray
    distance_mm: IntArray

    @classmethod
    def of(cls, uplinks: Uplinks, threshold_mm: IntArray, values: Stream) -> Self:
        """The uplinks' own fields plus incidental values drawn per uplink (berth, seq)."""
        key, seq = uplinks.berth, uplinks.seq
        occupied = uplinks.occupied.astype(np.int64)
        temperature = np.clip(np.rint(180 + 60 * values.normal(key, seq)), -300, 600).astype(np.int64)
        battery = values.between(3_300, 3_600, key, seq, salt=2).astype(np.int64)
        # Ceiling-mounted distance sensors: a car roof is well below the threshold, the floor above it.
        factor = np.where(
            occupied == 1, values.between(0.35, 0.85, key, seq, 3), values.between(1.15, 1.8, key, seq, 4)
        )
        distance = (threshold_mm * factor).astype(np.int64)
        return cls(key, occupied, uplinks.kind, uplinks.fcnt, uplinks.prev_ms, temperature, battery, distance)

    def __len__(self) -> int:
        return len(self.kind)

    def take(self, rows: IntArray) -> Self:
        return replace(self, **{f.name: getattr(self, f.name)[rows] for f in fields(self)})


def _bytes(*columns: IntArray | int, rows: int) -> U8Array:
    """A uint8 matrix whose columns are the given values (each an array or a constant)."""
    matrix = np.empty((rows, len(columns)), dtype=np.uint8)
    for i, column in enumerate(columns):
        matrix[:, i] = np.asarray(column) & 0xFF
    return matrix


def _whole_degrees(r: Readings) -> IntArray:
    whole: IntArray = np.rint(r.temperature_dc / 10).astype(np.int64)
    return whole


def _u16(value: IntArray, order: str) -> tuple[IntArray, IntArray]:
    high, low = (value >> 8) & 0xFF, value & 0xFF
    return (high, low) if order == "big" else (low, high)


def nwave_duration_code(prev_ms: IntArray) -> IntArray:
    """Nwave's 7-bit compressed duration: exact minutes below 90, then 5-minute and hourly steps."""
    minutes = prev_ms // 60_000
    code = np.select(
        [minutes < 90, minutes < 240, minutes < 660],
        [minutes, 90 + (minutes - 90) // 5, 120 + (minutes - 240) // 60],
        127,
    )
    result: IntArray = code
    return result


# A builder returns (port, matrix) for the rows of one message kind.
Builder = Callable[[Readings, int], tuple[int, U8Array]]


def _bosch(r: Readings, kind: int) -> tuple[int, U8Array]:
    n = len(r)
    if kind == STATUS:
        return 1, _bytes(r.occupied, rows=n)
    if kind == HEARTBEAT:
        return 2, _bytes(r.occupied, _whole_degrees(r), rows=n)
    debug = [0] * 12  # three empty debug records
    return 3, _bytes(*debug, 0, 29, 2, 2, r.occupied, rows=n)  # firmware 0.29.2, reset cause power-on


def _nwave_405(r: Readings, kind: int) -> tuple[int, U8Array]:
    n = len(r)
    if kind == STATUS:
        return 1, _bytes(nwave_duration_code(r.prev_ms) << 1 | r.occupied, rows=n)
    if kind == HEARTBEAT:
        half_degrees_above_10 = np.rint(r.temperature_dc / 5).astype(np.int64) - 20
        return 2, _bytes(r.occupied, (r.battery_mv - 2_500) // 4, half_degrees_above_10, rows=n)
    return 3, _bytes(2, 4, 9, 2, r.occupied, rows=n)  # firmware 2.4.9, power-on


def _nwave_310(r: Readings, kind: int) -> tuple[int, U8Array]:
    n = len(r)
    if kind == STARTUP:
        return 3, _bytes(1, 13, 0, 2, r.occupied, rows=n)  # firmware 1.13.0, power-on
    return (1 if kind == STATUS else 2), _bytes(r.occupied, rows=n)


def _libelium(r: Readings, kind: int) -> tuple[int, U8Array]:
    frame_type = {STATUS: 0, HEARTBEAT: 1, STARTUP: 4}[kind]  # info, keep-alive, start 1
    zeros = [0] * 7
    return 3, _bytes(r.occupied << 7 | frame_type, r.fcnt, 0, _whole_degrees(r), *zeros, rows=len(r))


def _pni(r: Readings, kind: int) -> tuple[int, U8Array]:
    n = len(r)
    if kind == STATUS:
        return 1, _bytes(0x15, 0x66, r.occupied, rows=n)
    if kind == HEARTBEAT:  # temperature (0.1 degC, big-endian) and the keep-alive status
        return 1, _bytes(0x02, 0x67, *_u16(r.temperature_dc, "big"), 0x37, 0x66, r.occupied, rows=n)
    return 1, _bytes(0x3F, 0x01, 0x01, 0x15, 0x66, r.occupied, rows=n)  # reboot response + status


def _tekzipark(r: Readings, kind: int) -> tuple[int, U8Array]:
    flags = r.occupied << 7 | 1 << 5 | int(kind == HEARTBEAT) | int(kind == STARTUP) << 1
    return 1, _bytes(flags, _whole_degrees(r), r.berth, rows=len(r))


def _milesight(r: Readings, kind: int) -> tuple[int, U8Array]:
    battery_pct = (r.battery_mv - 3_000) // 6
    temperature = _u16(r.temperature_dc, "little")
    distance = _u16(r.distance_mm, "little")
    return 85, _bytes(
        0x01, 0x75, battery_pct, 0x03, 0x67, *temperature, 0x04, 0x82, *distance, 0x05, 0x00, 0, rows=len(r)
    )


def _dragino(r: Readings, kind: int) -> tuple[int, U8Array]:
    columns = (
        *_u16(r.battery_mv, "big"),
        *_u16(r.distance_mm, "big"),
        0,
        *_u16(r.temperature_dc, "big"),
        1,
    )
    return 2, _bytes(*columns, rows=len(r))


BUILDERS: dict[str, Builder] = {
    "bosch-pls": _bosch,
    "nwave-nps405": _nwave_405,
    "nwave-nps310": _nwave_310,
    "libelium-parking": _libelium,
    "pni-placepod": _pni,
    "tekzipark": _tekzipark,
    "milesight-em400": _milesight,
    "dragino-ldds75": _dragino,
}


def encode(codec: str, readings: Readings) -> tuple[IntArray, list[bytes]]:
    """Port and payload for every uplink in `readings`, all of one codec."""
    ports = np.zeros(len(readings), dtype=np.int64)
    payloads: list[bytes] = [b""] * len(readings)
    for kind in (STATUS, HEARTBEAT, STARTUP):
        rows = np.flatnonzero(readings.kind == kind)
        if not len(rows):
            continue
        port, matrix = BUILDERS[codec](readings.take(rows), kind)
        ports[rows] = port
        width = matrix.shape[1]
        flat = matrix.tobytes()
        for i, row in enumerate(rows.tolist()):
            payloads[row] = flat[i * width : (i + 1) * width]
    return ports, payloads
