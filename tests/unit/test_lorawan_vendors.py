"""Every vendor vector in tests/data/sensor-vectors through the hub's payload decoders."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from parking_hub.ingest.lorawan.vendors import DECODERS, PayloadError

VECTORS = Path(__file__).parent.parent / "data" / "sensor-vectors"

# What the hub must make of a vector: True/False (occupancy), None (no occupancy), or a rejection code.
Expected = bool | None | str


def _data(vector: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = vector["expected"].get("data", vector["expected"])
    return data


def _occupied_field(name: str) -> Callable[[dict[str, Any]], Expected]:
    return lambda vector: bool(_data(vector)[name])


def _libelium(vector: dict[str, Any]) -> Expected:
    kind = vector["expected"]["frame_type_name"]
    if kind in ("info", "keep_alive", "daily_update", "start1", "start2"):
        return bool(vector["expected"]["parking_slot_status"])
    if kind in ("error", "service", "downlink", "rssi"):
        return None
    return "undecodable_payload"


def _dragino(vector: dict[str, Any]) -> Expected:
    if vector["expected"].get("errors") == ["unknown FPort"]:
        return "unknown_port"
    assert _data(vector)["distance"] == "No Sensor"
    return "undecodable_payload"


# file -> (codec, the vector lists in it, how the vendor's expected output maps to ours)
FILES: dict[str, tuple[str, tuple[str, ...], Callable[[dict[str, Any]], Expected]]] = {
    "bosch-tps110-pls.json": ("bosch-pls", ("vectors_ttn",), _occupied_field("occupied")),
    "nwave-nps405.json": ("nwave-nps405", ("vectors",), _occupied_field("occupied")),
    "nwave-nps310sm.json": ("nwave-nps310", ("vectors",), _occupied_field("occupied")),
    "libelium-smart-parking-v2-v3.json": ("libelium-parking", ("vectors",), _libelium),
    "pni-placepod.json": ("pni-placepod", ("vectors",), _occupied_field("parking_status")),
    "tekzitel-tekzipark-DERIVED.json": ("tekzipark", ("vectors",), _occupied_field("occupied")),
    "dragino-ldds75.json": ("dragino-ldds75", ("vectors",), _dragino),
}


def _cases() -> Iterator[Any]:
    for name, (codec, lists, expect) in FILES.items():
        doc = orjson.loads((VECTORS / name).read_bytes())
        for list_name in lists:
            for vector in doc[list_name]:
                yield pytest.param(codec, vector, expect(vector), id=f"{codec}: {vector['description']}")
    bosch = orjson.loads((VECTORS / "bosch-tps110-pls.json").read_bytes())
    for vector in bosch["vectors_element_fw0_23_3"]:  # the ELEMENT parser's field names
        occupied = bool(vector["expected"]["map_state"])
        yield pytest.param("bosch-pls", vector, occupied, id=f"bosch-pls fw 0.23.3: {vector['description']}")


def decode(codec: str, port: int | None, payload: bytes, threshold_mm: int | None = None) -> Expected:
    try:
        return DECODERS[codec](port, payload, threshold_mm)
    except PayloadError as exc:
        return exc.code


@pytest.mark.parametrize(("codec", "vector", "expected"), list(_cases()))
def test_vendor_vectors(codec: str, vector: dict[str, Any], expected: Expected) -> None:
    payload = bytes.fromhex(vector["bytes_hex"])
    assert payload == base64.b64decode(vector["frm_payload_b64"])
    assert decode(codec, vector.get("fPort"), payload) == expected


def test_every_stored_vector_file_is_tested() -> None:
    stored = {path.name for path in VECTORS.glob("*.json")}
    assert stored == {*FILES, "milesight-em400-mud.json"}


def test_milesight_vector_against_a_threshold_on_either_side() -> None:
    (vector,) = orjson.loads((VECTORS / "milesight-em400-mud.json").read_bytes())["vectors"]
    payload = bytes.fromhex(vector["bytes_hex"])
    distance = vector["expected"]["data"]["distance"]
    assert distance == 2116
    assert decode("milesight-em400", vector["fPort"], payload, distance + 1) is True
    assert decode("milesight-em400", vector["fPort"], payload, distance) is False
    assert decode("milesight-em400", 86, payload, distance) == "unknown_port"
    # battery and temperature only: well formed, but no distance, so no occupancy
    assert decode("milesight-em400", 85, payload[:7], 1000) is None


@pytest.mark.parametrize(("hex_payload", "threshold", "expected"), [
    # The vendor decoder's "distance with alarming" record (84 82, uint16 LE mm, alarm byte) after
    # its "temperature with abnormal" one (83 67, int16 LE, flag): 2116 mm, alarm on.
    ("836701010184824408 01".replace(" ", ""), 2117, True),
    ("836701010184824408 01".replace(" ", ""), 2116, False),
    # The plain records in another order than the vendor's example: position, distance, battery.
    ("050001 04824408 01755C".replace(" ", ""), 2117, True),
])  # fmt: skip
def test_milesight_distance_records_in_any_order(hex_payload: str, threshold: int, expected: bool) -> None:
    assert decode("milesight-em400", 85, bytes.fromhex(hex_payload), threshold) is expected


@pytest.mark.parametrize(
    ("codec", "port", "hex_payload", "expected"),
    [
        ("bosch-pls", 1, "", "undecodable_payload"),
        ("bosch-pls", 1, "0101", True),  # the vendor's decoder reads byte 0 of any length
        ("bosch-pls", 2, "011500", True),
        ("bosch-pls", 3, "01", "undecodable_payload"),
        ("bosch-pls", 4, "0102030405", None),  # device information: no occupancy
        ("bosch-pls", 7, "01", "unknown_port"),
        ("bosch-pls", None, "01", "unknown_port"),
        ("nwave-nps405", 2, "01", "undecodable_payload"),
        ("nwave-nps405", 6, "00", None),
        # Tag registration (port 10): the vendor's decoder says occupied when bit 0 is set, and
        # null (no occupancy) when it is clear; a registration never frees a berth.
        ("nwave-nps405", 10, "03D11F3456", True),
        ("nwave-nps405", 10, "02D11F3456", None),
        ("nwave-nps405", 10, "03D11F", "undecodable_payload"),
        ("nwave-nps405", 11, "00", "unknown_port"),
        ("nwave-nps310", 10, "D11F345678", "unknown_port"),
        ("nwave-nps310", 3, "010D000201", True),
        ("libelium-parking", 3, "806E0009003900000000", "undecodable_payload"),  # 10 bytes
        ("pni-placepod", 1, "156602", None),  # status neither 0 nor 1: the vendor says unknown
        ("pni-placepod", 1, "15660137660 2".replace(" ", ""), None),  # the last status record decides
        ("pni-placepod", 1, "3766001566 01".replace(" ", ""), True),
        ("pni-placepod", 1, "CAFEBABE", "undecodable_payload"),
        ("pni-placepod", 1, "0302016D", None),  # battery only
        ("pni-placepod", 1, "3F0101156601", True),  # reboot response with the status
        ("tekzipark", 1, "A015", "undecodable_payload"),
        ("tekzipark", 1, "A21507", True),  # reset flag: a startup, still with occupancy
        # Port 2, the magnetometer report, carries the status byte too, as the vendor's decoder
        # reads it: flags, temperature, parking id, then deflections, baselines, fault, reflection.
        ("tekzipark", 2, "801507010203040506000000", True),
        ("tekzipark", 2, "0011223344", False),
        ("tekzipark", 2, "80", "undecodable_payload"),
        ("tekzipark", 3, "A01507", "unknown_port"),
        ("dragino-ldds75", 2, "0CE4000A00", "undecodable_payload"),  # 10 mm: invalid reading
    ],
)
def test_malformed_and_informational_payloads(
    codec: str, port: int | None, hex_payload: str, expected: Expected
) -> None:
    assert decode(codec, port, bytes.fromhex(hex_payload)) == expected


@pytest.mark.parametrize(("hex_payload", "threshold", "expected"), [
    ("0CE4064A00", 1700, True),  # 1610 mm, 5-byte form
    ("0CE4064A00", 1610, False),
    ("0CE4064A0000FA01", 1611, True),  # 8-byte form: + interrupt, temperature, sensor flag
])  # fmt: skip
def test_dragino_distance_against_the_threshold(hex_payload: str, threshold: int, expected: bool) -> None:
    assert decode("dragino-ldds75", 2, bytes.fromhex(hex_payload), threshold) is expected


def test_distance_sensor_without_threshold_is_rejected() -> None:
    assert decode("dragino-ldds75", 2, bytes.fromhex("0CE4064A00")) == "invalid_device"
