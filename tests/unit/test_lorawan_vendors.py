"""Every vendor vector in tests/data/sensor-vectors through the hub's payload decoders."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from parking_hub.ingest.lorawan.vendors import DECODERS, PayloadError

VECTORS = Path(__file__).parent.parent / "data" / "sensor-vectors"
THRESHOLD_MM = 1000  # what a distance codec is given where the vector carries no distance


@dataclass(frozen=True)
class Distance:
    """A distance sensor's reading: occupied below a threshold above it, free at or below it."""

    mm: int


# What the hub must make of a vector: True/False (occupancy), None (no occupancy), a Distance, or a
# rejection code.
Expected = bool | None | Distance | str


def _data(vector: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = vector["expected"].get("data", vector["expected"])
    return data


def _unknown_port(vector: dict[str, Any]) -> bool:
    return bool(vector["expected"].get("errors") == ["unknown FPort"])


def _occupied_field(name: str) -> Callable[[dict[str, Any]], Expected]:
    """The vendor's occupancy field; a frame without it (or null) carries no occupancy."""

    def expect(vector: dict[str, Any]) -> Expected:
        if _unknown_port(vector):
            return "unknown_port"
        occupied = _data(vector).get(name)
        return None if occupied is None else bool(occupied)

    return expect


def _libelium(vector: dict[str, Any]) -> Expected:
    # Byte 0 bit 7 is the slot status in every frame; types 9-15 are reserved.
    if vector["expected"]["frame_type"] > 8:
        return "undecodable_payload"
    return bool(vector["expected"]["parking_slot_status"])


def _milesight(vector: dict[str, Any]) -> Expected:
    distance = _data(vector).get("distance")
    return None if distance is None else Distance(distance)


def _dragino(vector: dict[str, Any]) -> Expected:
    if _unknown_port(vector):
        return "unknown_port"
    reading = _data(vector)["Distance" if "Distance" in _data(vector) else "distance"]
    if isinstance(reading, str) and reading.endswith(" mm"):  # the 1.1.4 decoders print the unit
        reading = int(reading.removesuffix(" mm"))
    if reading in ("No Sensor", "Invalid Reading"):
        return "undecodable_payload"
    # Below 20 mm the vendor's 5-byte decoders say "Invalid Reading"; the 8-byte one prints the number.
    return Distance(reading) if reading >= 20 else "undecodable_payload"


# file -> (codec, the vector lists in it, how the vendor's expected output maps to ours)
FILES: dict[str, tuple[str, tuple[str, ...], Callable[[dict[str, Any]], Expected]]] = {
    "bosch-tps110-pls.json": ("bosch-pls", ("vectors_ttn", "vectors_derived"), _occupied_field("occupied")),
    "nwave-nps405.json": ("nwave-nps405", ("vectors", "vectors_derived"), _occupied_field("occupied")),
    "nwave-nps310sm.json": ("nwave-nps310", ("vectors", "vectors_derived"), _occupied_field("occupied")),
    "libelium-smart-parking-v2-v3.json": ("libelium-parking", ("vectors", "vectors_guide"), _libelium),
    "pni-placepod.json": ("pni-placepod", ("vectors",), _occupied_field("parking_status")),
    "tekzitel-tekzipark-DERIVED.json": ("tekzipark", ("vectors",), _occupied_field("occupied")),
    "milesight-em400-mud.json": (
        "milesight-em400",
        ("vectors", "vectors_vendor_readme", "vectors_derived"),
        _milesight,
    ),
    "dragino-ldds75.json": ("dragino-ldds75", ("vectors", "vectors_ttn_114", "vectors_dragino"), _dragino),
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


def decode(
    codec: str, port: int | None, payload: bytes, threshold_mm: int | None = None
) -> bool | str | None:
    try:
        return DECODERS[codec](port, payload, threshold_mm)
    except PayloadError as exc:
        return exc.code


@pytest.mark.parametrize(("codec", "vector", "expected"), list(_cases()))
def test_vendor_vectors(codec: str, vector: dict[str, Any], expected: Expected) -> None:
    payload = bytes.fromhex(vector["bytes_hex"])
    assert payload == base64.b64decode(vector["frm_payload_b64"])
    port = vector.get("fPort")
    if isinstance(expected, Distance):
        assert decode(codec, port, payload, expected.mm + 1) is True
        assert decode(codec, port, payload, expected.mm) is False
        assert decode(codec, port, payload) == "invalid_device"
    else:
        assert decode(codec, port, payload, THRESHOLD_MM) == expected


def test_every_stored_vector_file_and_list_is_tested() -> None:
    assert {path.name for path in VECTORS.glob("*.json")} == set(FILES)
    for name, (_, lists, _) in FILES.items():
        doc = orjson.loads((VECTORS / name).read_bytes())
        stored = {key for key in doc if key.startswith("vectors")} - {"vectors_element_fw0_23_3"}
        assert stored == set(lists), name


def test_milesight_frame_without_a_distance_record() -> None:
    (vector,) = orjson.loads((VECTORS / "milesight-em400-mud.json").read_bytes())["vectors"]
    payload = bytes.fromhex(vector["bytes_hex"])
    assert decode("milesight-em400", 86, payload, THRESHOLD_MM) == "unknown_port"
    # battery and temperature only: well formed, but no distance, so no occupancy
    assert decode("milesight-em400", 85, payload[:7], THRESHOLD_MM) is None


def test_milesight_records_in_another_order_than_the_vendors_example() -> None:
    payload = bytes.fromhex("050001 04824408 01755C".replace(" ", ""))  # position, distance 2116 mm, battery
    assert decode("milesight-em400", 85, payload, 2117) is True
    assert decode("milesight-em400", 85, payload, 2116) is False


@pytest.mark.parametrize(
    ("codec", "port", "hex_payload", "expected"),
    [
        ("bosch-pls", 1, "", "undecodable_payload"),
        ("bosch-pls", 1, "0101", True),  # the vendor's decoder reads byte 0 of any length
        ("bosch-pls", 2, "011500", True),
        ("bosch-pls", 3, "01", "undecodable_payload"),
        ("bosch-pls", 7, "01", "unknown_port"),
        ("bosch-pls", None, "01", "unknown_port"),
        ("nwave-nps405", 2, "01", "undecodable_payload"),
        # Tag registration (port 10): occupied when bit 0 is set; the vendor's decoder says null (no
        # occupancy) when it is clear (a vector), so a registration never frees a berth.
        ("nwave-nps405", 10, "03D11F3456", True),
        ("nwave-nps405", 10, "03D11F", "undecodable_payload"),
        ("nwave-nps405", 11, "00", "unknown_port"),
        ("nwave-nps310", 10, "D11F345678", "unknown_port"),
        ("nwave-nps310", 3, "010D000201", True),
        ("libelium-parking", 3, "806E0009003900000000", "undecodable_payload"),  # 10 bytes
        ("libelium-parking", 3, "806E000900390000000000AA", True),  # 12 bytes: firmware v1, info frame
        ("libelium-parking", 3, "866E000900390000000000AA", "undecodable_payload"),  # v1 has no type 6
        ("libelium-parking", 3, "806E000900390000000000AABB", "undecodable_payload"),  # 13 bytes
        ("pni-placepod", 1, "156602", None),  # status neither 0 nor 1: the vendor says unknown
        ("pni-placepod", 1, "15660137660 2".replace(" ", ""), None),  # the last status record decides
        ("pni-placepod", 1, "3766001566 01".replace(" ", ""), True),
        ("pni-placepod", 1, "CAFEBABE", "undecodable_payload"),
        ("pni-placepod", 1, "0302016D", None),  # battery only
        ("pni-placepod", 1, "3F0101156601", True),  # reboot response with the status
        ("tekzipark", 1, "A015", "undecodable_payload"),
        ("tekzipark", 1, "A21507", True),  # reset flag: a startup, still with occupancy
        # Port 2, the magnetometer report, starts with the status byte too (see the vectors).
        ("tekzipark", 2, "0011223344", False),
        ("tekzipark", 2, "80", "undecodable_payload"),
        # A reply the vendor's decoder does not know (it throws): nothing to read after it either.
        ("milesight-em400", 85, "FF5501 04824408".replace(" ", ""), "undecodable_payload"),
        ("milesight-em400", 85, "048244", "undecodable_payload"),  # a record cut short
        ("milesight-em400", 85, "FF0BFF 048244".replace(" ", ""), None),  # device status, then cut short
        ("dragino-ldds75", 2, "0CE4064A0000", "undecodable_payload"),  # neither 5 nor 8 bytes
        ("dragino-ldds75", 3, "0CE4064A00", "unknown_port"),
    ],
)
def test_malformed_and_informational_payloads(
    codec: str, port: int | None, hex_payload: str, expected: Expected
) -> None:
    assert decode(codec, port, bytes.fromhex(hex_payload)) == expected
