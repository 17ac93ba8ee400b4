"""The simulator's vendor payload encoders reproduce the vendors' own test vectors."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from sensors_sim.hardware import HEARTBEAT, STARTUP, STATUS
from sensors_sim.payloads import Readings, encode, nwave_duration_code


def readings(
    kind: int,
    occupied: int,
    *,
    prev_min: int = 0,
    temperature_dc: int = 200,
    battery_mv: int = 3_400,
    distance_mm: int = 1_000,
    fcnt: int = 0,
    berth: int = 0,
) -> Readings:
    def one(value: int) -> npt.NDArray[np.int64]:
        return np.array([value], dtype=np.int64)

    return Readings(
        one(berth),
        one(occupied),
        one(kind),
        one(fcnt),
        one(prev_min * 60_000),
        one(temperature_dc),
        one(battery_mv),
        one(distance_mm),
    )


def payload(codec: str, r: Readings) -> tuple[int, str]:
    ports, payloads = encode(codec, r)
    return int(ports[0]), payloads[0].hex().upper()


@pytest.mark.parametrize(
    ("codec", "r", "port", "hex_payload"),
    [
        # bosch-tps110-pls.yaml: status, heartbeat (occupied, -1 degC)
        ("bosch-pls", readings(STATUS, 1), 1, "01"),
        ("bosch-pls", readings(HEARTBEAT, 1, temperature_dc=-10), 2, "01FF"),
        # nwave-nps405.yaml: status 0x95 (occupied, previous state 74 min); startup fw 2.4.9 power-on
        ("nwave-nps405", readings(STATUS, 1, prev_min=74), 1, "95"),
        ("nwave-nps405", readings(STARTUP, 0), 3, "0204090200"),
        # nwave-nps405.yaml heartbeat 00D3D8...: free, 3.344 V, -10 degC (the vendor adds 3 more bytes)
        ("nwave-nps405", readings(HEARTBEAT, 0, battery_mv=3_344, temperature_dc=-100), 2, "00D3D8"),
        # nwave-nps310sm.yaml
        ("nwave-nps310", readings(STATUS, 1), 1, "01"),
        ("nwave-nps310", readings(HEARTBEAT, 0), 2, "00"),
        ("nwave-nps310", readings(STARTUP, 0), 3, "010D000200"),
        # pni-placepod.yaml "real payloads": status change; temperature 19.5 degC + keep-alive
        ("pni-placepod", readings(STATUS, 1), 1, "156601"),
        ("pni-placepod", readings(HEARTBEAT, 1, temperature_dc=195), 1, "026700C3376601"),
        # tekzitel-tekzipark-DERIVED.yaml: status occupied 21 degC id 7; keep-alive free -2 degC id 7
        ("tekzipark", readings(STATUS, 1, temperature_dc=210, berth=7), 1, "A01507"),
        ("tekzipark", readings(HEARTBEAT, 0, temperature_dc=-20, berth=7), 1, "21FE07"),
    ],
)
def test_vendor_vectors_byte_for_byte(codec: str, r: Readings, port: int, hex_payload: str) -> None:
    assert payload(codec, r) == (port, hex_payload)


def test_milesight_vector_up_to_the_position_record() -> None:
    # milesight-em400-mud.yaml: battery 92%, 25.7 degC, 2116 mm, position tilt (ours: always normal)
    r = readings(HEARTBEAT, 0, battery_mv=3_552, temperature_dc=257, distance_mm=2_116)
    assert payload("milesight-em400", r) == (85, "01755C0367010104824408050000")


def test_libelium_info_frame_header_as_the_vector() -> None:
    # libelium-smart-parking-v2-v3.yaml info frame 006E0009...: empty, frame counter 110, 9 degC
    port, hex_payload = payload("libelium-parking", readings(STATUS, 0, fcnt=110, temperature_dc=90))
    assert port == 3
    assert len(hex_payload) == 22
    assert hex_payload.startswith("006E0009")


@pytest.mark.parametrize(
    ("minutes", "code"),
    [
        (0, 0),
        (74, 74),
        (89, 89),
        (90, 90),
        (160, 104),
        (239, 119),
        (240, 120),
        (659, 126),
        (660, 127),
        (5000, 127),
    ],
)
def test_nwave_compressed_duration(minutes: int, code: int) -> None:
    assert nwave_duration_code(np.array([minutes * 60_000])).tolist() == [code]
