"""The AsyncAPI document is valid AsyncAPI 3.0 and agrees with the code: its examples are what the
hub's decoders accept, its schemas take the simulator's traffic and the hub's own reports."""

from __future__ import annotations

import asyncio
import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft7Validator

from parking_hub.ingest.error_reports import ErrorReports
from parking_hub.ingest.formats import decode
from parking_hub.ingest.lorawan import DeviceIndex, decode_uplink
from parking_hub.ingest.topics import Topics
from parking_hub.interfaces import asyncapi_document, encoded
from parking_hub.interfaces.asyncapi import EXAMPLE_TS
from parking_hub.interfaces.registry_schema import EXAMPLE_LOT
from parking_hub.observe import Health, Metrics
from parking_hub.registry import parse_registry
from sensors_sim.encoders import FORMATS
from tests.unit.simcity import codec_city
from tests.unit.test_sim_roundtrip import PREFIX, messages

ROOT = Path(__file__).parents[2]
SPEC_SCHEMA = ROOT / "tests" / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json"
DOCUMENT = asyncapi_document()
MESSAGES = DOCUMENT["components"]["messages"]
LOTS = parse_registry(orjson.dumps({"type": "FeatureCollection", "features": [EXAMPLE_LOT]}))
NOW_MS = EXAMPLE_TS + 1000


@cache
def payload_schema(message: str) -> Draft7Validator:
    return Draft7Validator(MESSAGES[message]["payload"], format_checker=Draft7Validator.FORMAT_CHECKER)


def channel_of(topic: str, prefix: str) -> tuple[str, str]:
    """The channel and message whose address `topic` fills in."""
    for name, channel in DOCUMENT["channels"].items():
        address = re.escape(channel["address"].replace("{prefix}", prefix))
        if re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", address), topic):
            (message,) = channel["messages"]
            return name, message
    raise AssertionError(f"no channel for {topic}")


def test_the_document_is_valid_asyncapi_3_and_docs_keep_the_served_copy() -> None:
    spec = Draft7Validator(orjson.loads(SPEC_SCHEMA.read_bytes()))
    assert [e.message for e in spec.iter_errors(DOCUMENT)] == []
    assert (ROOT / "docs" / "asyncapi.json").read_bytes() == encoded("asyncapi.json"), (
        "run: python -m parking_hub.interfaces docs"
    )
    for message in MESSAGES.values():
        Draft7Validator.check_schema(message["payload"])


def test_every_reference_resolves() -> None:
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in refs(v)]
        return [r for v in node for r in refs(v)] if isinstance(node, list) else []

    for ref in refs(DOCUMENT):
        node: Any = DOCUMENT
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


EXAMPLES = [(name, example) for name, message in MESSAGES.items() for example in message.get("examples", [])]


@pytest.mark.parametrize(("message", "example"), EXAMPLES, ids=[f"{m}-{e['name']}" for m, e in EXAMPLES])
def test_examples_fit_their_schema(message: str, example: dict[str, Any]) -> None:
    assert [e.message for e in payload_schema(message).iter_errors(example["payload"])] == []


# Where each inbound example is sent, and what the hub makes of it: (berths, ranks, status rank).
INBOUND = {
    ("batchFrame", "frame"): (
        "parking/v1/lots/qd-0001/events",
        [0, 3],
        [EXAMPLE_TS * 2 + 1, EXAMPLE_TS * 2 + 666],
    ),
    ("berthReport", "occupied"): ("parking/v1/lots/qd-0001/berths/3", [3], [EXAMPLE_TS * 2 + 1]),
    ("gatewayStatus", "online"): ("parking/v1/lots/qd-0001/status", [], [], EXAMPLE_TS * 2 + 1),
    ("gatewayStatus", "will"): ("parking/v1/lots/qd-0001/status", [], [], NOW_MS * 2),
    ("ttsUplink", "bosch status"): (
        "v3/parking-sensors@city/devices/nps-qd-0001-001/up",
        [1],
        [EXAMPLE_TS * 2 + 1],
    ),
    ("chirpstackUplink", "nwave status"): (
        "application/0b8a1c3e-5f4d-4c1a-9d7e-2f6b8a9c0d1e/device/70b3d57ed0000001/event/up",
        [0],
        [EXAMPLE_TS * 2],
    ),
}


def test_every_inbound_example_is_decoded_below() -> None:
    inbound = {(m, e["name"]) for m, e in EXAMPLES if m not in ("errorReport", "resyncRequest")}
    assert inbound == set(INBOUND)


@pytest.mark.parametrize(("key", "expected"), INBOUND.items(), ids=[f"{m}-{e}" for m, e in INBOUND])
def test_the_hub_decodes_each_example_as_documented(key: tuple[str, str], expected: tuple[Any, ...]) -> None:
    topic, berths, ranks, *status = expected
    (example,) = [e for e in MESSAGES[key[0]]["examples"] if e["name"] == key[1]]
    assert channel_of(topic, "parking")[1] == key[0]
    payload = orjson.dumps(example["payload"])
    parsed = Topics("parking").parse(topic)
    if parsed is None:
        decoded = decode_uplink(topic, payload, DeviceIndex(LOTS), NOW_MS)
    else:
        decoded = decode(parsed, payload, {lot.id: lot.capacity for lot in LOTS}.get, NOW_MS)
    assert decoded.rejections == []
    assert (decoded.lot, list(decoded.berths), list(decoded.ranks)) == ("qd-0001", berths, ranks)
    assert decoded.status_rank == (status[0] if status else None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_simulators_messages_fit_the_schemas(tmp_path: Path, fmt: str) -> None:
    _, registry = codec_city(tmp_path, capacity=6)
    sent = messages(registry, (fmt,), hours=2)
    assert sent
    for m in sent:
        _, message = channel_of(m.topic, PREFIX)
        assert [e.message for e in payload_schema(message).iter_errors(orjson.loads(m.payload))] == [], (
            m.topic
        )


async def test_the_hubs_reports_fit_the_schemas() -> None:
    reports = ErrorReports(Topics("parking"), Metrics(Health()))
    topics = Topics("parking")
    for topic, payload in [
        ("parking/v1/lots/qd-0001/events", b'{"berth": [0, 9], "occupied": [1, 1], "ts": [1, 2]}'),
        ("parking/v1/lots/qd-0001/berths/0", b"{"),
        ("parking/v1/lots/NOT A LOT/status", b"{}"),
    ]:
        parsed = topics.parse(topic)
        assert parsed is not None
        reports.report(parsed, topic, decode(parsed, payload, {"qd-0001": 4}.get, NOW_MS), NOW_MS)
    reports.request_resync("qd-0001", "gw-17", 1043, NOW_MS)
    published: list[tuple[str, bytes]] = []
    all_out = asyncio.Event()

    async def publish(topic: str, payload: bytes) -> None:
        published.append((topic, payload))
        if len(published) == 5:
            all_out.set()

    task = asyncio.create_task(reports.publish_forever(publish))
    await asyncio.wait_for(all_out.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert {channel_of(topic, "parking") for topic, _ in published} == {
        ("lotErrors", "errorReport"),
        ("errors", "errorReport"),
        ("lotResync", "resyncRequest"),
    }
    for topic, payload in published:
        _, message = channel_of(topic, "parking")
        assert [e.message for e in payload_schema(message).iter_errors(orjson.loads(payload))] == [], payload
