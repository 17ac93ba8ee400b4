"""The MQTT interface as an AsyncAPI 3.0 document: every topic the hub reads and writes, with
payload schemas (AsyncAPI's JSON Schema draft 07 dialect) and examples, built from the decoders'
own limits. The tests feed every example to the decoders and the simulator's traffic to the schemas.
"""

from __future__ import annotations

from typing import Any

from parking_hub import __version__
from parking_hub.ingest.formats import MAX_FRAME_EVENTS, MAX_PAYLOAD_BYTES
from parking_hub.ingest.lorawan import SUBSCRIPTIONS
from parking_hub.ingest.lorawan.vendors import DECODERS
from parking_hub.ingest.topics import BROKER_DROPPED, Topics
from parking_hub.rank import MAX_FUTURE_MS, MIN_TS_MS
from parking_hub.registry import LOT_ID, MAX_CAPACITY

EXAMPLE_TS = 1_764_201_600_123  # 2025-11-27T00:00:00.123Z
EXAMPLE_TIME = "2025-11-27T00:00:00.123Z"

TS = {
    "description": "when the sensor observed it: integer milliseconds since the Unix epoch (UTC); "
    f"not before 2020-01-01 (`ts_out_of_range`), at most {MAX_FUTURE_MS // 60_000} minutes ahead of "
    "the hub's clock (`ts_in_future`)",
    "type": "integer",
    "minimum": MIN_TS_MS,
}
OCCUPIED = {"description": "1 or true: occupied; 0 or false: free", "enum": [0, 1, True, False]}
BERTH = {"description": "berth number, 0 .. capacity - 1", "type": "integer", "minimum": 0}
BASE64 = {"type": "string", "contentEncoding": "base64"}
RFC3339 = {"type": "string", "format": "date-time"}


PARAMETERS = {
    "prefix": {"description": "the hub's topic prefix (`--topic-prefix`)", "default": "parking"},
    "lot": {"description": f"the lot id from the registry, {LOT_ID.pattern}"},
    "berth": {"description": f"berth number in decimal, 0 .. capacity - 1 (capacity at most {MAX_CAPACITY})"},
    "application": {
        "description": "The Things Stack application id, with `@tenant` where the deployment has one"
    },
    "device": {"description": "The Things Stack device id; the registry's `devices` names it, or its DevEUI"},
    "applicationId": {"description": "ChirpStack application id (a UUID)"},
    "devEui": {"description": "the device's DevEUI, 16 hex digits; the registry's `devices` names it"},
}

FRAME = {
    "type": "object",
    "properties": {
        "gateway": {"description": "the gateway's name, for gap detection and metrics", "type": "string"},
        "seq": {
            "description": "the gateway's frame counter: 1, 2, 3, ... A skipped number is a gap, answered "
            "with a resync request; a restarted gateway may begin again at 0 or 1",
            "type": "integer",
        },
        "berth": {"type": "array", "items": BERTH, "maxItems": MAX_FRAME_EVENTS},
        "occupied": {"type": "array", "items": OCCUPIED, "maxItems": MAX_FRAME_EVENTS},
        "ts": {"type": "array", "items": TS, "maxItems": MAX_FRAME_EVENTS},
    },
    "required": ["berth", "occupied", "ts"],
}
SINGLE = {
    "type": "object",
    "properties": {"occupied": OCCUPIED, "ts": TS},
    "required": ["occupied", "ts"],
}
STATUS = {
    "type": "object",
    "properties": {
        "online": {"type": "boolean"},
        "ts": {**TS, "description": "when the status held; absent: when the hub reads it"},
    },
    "required": ["online"],
}
TTS_UPLINK = {
    "type": "object",
    "properties": {
        "end_device_ids": {
            "type": "object",
            "properties": {
                "device_id": {"type": "string"},
                "dev_eui": {"type": "string", "pattern": "^[0-9A-Fa-f]{16}$"},
            },
        },
        "received_at": {**RFC3339, "description": "the observation time the hub uses"},
        "uplink_message": {
            "type": "object",
            "properties": {
                "f_port": {"type": "integer", "minimum": 0, "maximum": 255},
                "f_cnt": {
                    "description": "absent means 0",
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 2**32 - 1,
                },
                "frm_payload": {**BASE64, "description": "the sensor's bytes"},
                "received_at": {**RFC3339, "description": "used when the top-level received_at is absent"},
            },
        },
    },
    "required": ["uplink_message"],
}
CHIRPSTACK_UPLINK = {
    "type": "object",
    "properties": {
        "deviceInfo": {
            "type": "object",
            "properties": {"devEui": {"type": "string", "pattern": "^[0-9A-Fa-f]{16}$"}},
        },
        "time": {**RFC3339, "description": "the observation time the hub uses"},
        "fPort": {"type": "integer", "minimum": 0, "maximum": 255},
        "fCnt": {"description": "absent means 0", "type": "integer", "minimum": 0, "maximum": 2**32 - 1},
        "data": {**BASE64, "description": "the sensor's bytes"},
    },
    "required": ["data"],
}
ERROR = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "why: see the error codes in docs/operators.md"},
        "message": {"type": "string"},
        "topic": {"type": "string", "description": "the topic of the rejected message"},
        "ts": {"type": "integer", "description": "when the hub rejected it, epoch milliseconds"},
        "count": {
            "type": "integer",
            "minimum": 2,
            "description": "events of one frame rejected for this code",
        },
    },
    "required": ["code", "message", "topic", "ts"],
}
RESYNC = {
    "type": "object",
    "properties": {
        "gateway": {"type": "string", "description": "the gateway whose frames went missing"},
        "reason": {"const": "seq_gap"},
        "missing_from": {"type": "integer", "description": "the first `seq` the hub did not receive"},
        "ts": {"type": "integer", "description": "when the hub asked, epoch milliseconds"},
    },
    "required": ["gateway", "reason", "missing_from", "ts"],
}


def _codecs() -> str:
    """Each codec with its decoder's summary line."""
    summaries = ((name, (decoder.__doc__ or "").partition("\n")[0]) for name, decoder in DECODERS.items())
    lines = [f"- `{name}`: {summary}" for name, summary in summaries]
    return "The registry's `codec` for the device (or its lot) reads the bytes:\n" + "\n".join(lines)


def _example(name: str, payload: dict[str, Any], summary: str = "") -> dict[str, Any]:
    return {"name": name, "summary": summary or name, "payload": payload}


MESSAGES: dict[str, dict[str, Any]] = {
    "batchFrame": {
        "summary": "A lot gateway's batch of berth reports",
        "description": "Three arrays of equal length (`length_mismatch` otherwise), at most "
        f"{MAX_FRAME_EVENTS:,} events (`batch_too_long`). Bad events are rejected one by one; the frame's "
        "valid events are applied.",
        "payload": FRAME,
        "examples": [
            _example(
                "frame",
                {
                    "gateway": "gw-17",
                    "seq": 1042,
                    "berth": [0, 3],
                    "occupied": [1, 0],
                    "ts": [EXAMPLE_TS, EXAMPLE_TS + 333],
                },
            )
        ],
    },
    "berthReport": {
        "summary": "One berth's report, from a sensor that publishes on its own",
        "payload": SINGLE,
        "examples": [_example("occupied", {"occupied": 1, "ts": EXAMPLE_TS})],
    },
    "gatewayStatus": {
        "summary": "Whether the lot's gateway is online; while offline every berth of the lot is unknown",
        "description": 'Publish retained. Set `{"online": false}` as the gateway\'s Last Will (retained, '
        'QoS 1) and publish `{"online": true, "ts": ...}` on every connect.',
        "payload": STATUS,
        "examples": [
            _example("online", {"online": True, "ts": EXAMPLE_TS}),
            _example("will", {"online": False}, "the Last Will"),
        ],
    },
    "ttsUplink": {
        "summary": "The Things Stack v3 uplink",
        "description": "Zero-valued fields are omitted, as The Things Stack does. The device is found by "
        "its device id, else its DevEUI. " + _codecs(),
        "payload": TTS_UPLINK,
        "examples": [
            _example(
                "bosch status",
                {
                    "end_device_ids": {"device_id": "nps-qd-0001-001", "dev_eui": "70B3D57ED0000002"},
                    "received_at": EXAMPLE_TIME,
                    "uplink_message": {"f_port": 1, "f_cnt": 42, "frm_payload": "AQ=="},
                },
            )
        ],
    },
    "chirpstackUplink": {
        "summary": "ChirpStack v4 uplink event (JSON encoding)",
        "description": "Zero-valued fields are omitted (Protobuf JSON mapping). The device is found by "
        "its DevEUI. " + _codecs(),
        "payload": CHIRPSTACK_UPLINK,
        "examples": [
            _example(
                "nwave status",
                {
                    "deviceInfo": {"devEui": "70b3d57ed0000001"},
                    "time": EXAMPLE_TIME,
                    "fPort": 1,
                    "fCnt": 7,
                    "data": "AA==",
                },
            )
        ],
    },
    "errorReport": {
        "summary": "A rejected message or event, and why",
        "payload": ERROR,
        "examples": [
            _example(
                "seconds",
                {
                    "code": "ts_out_of_range",
                    "message": "ts 1764201600 is before 2020-01-01: it must be milliseconds, not seconds",
                    "topic": "parking/v1/lots/qd-0001/berths/3",
                    "ts": EXAMPLE_TS,
                },
            )
        ],
    },
    "resyncRequest": {
        "summary": "The hub missed frames of a gateway: it asks for every berth's current state",
        "description": "The gateway answers with batch frames holding every berth's last report, each "
        f"with its own `ts`, at most {MAX_FRAME_EVENTS:,} events a frame, continuing its `seq`.",
        "payload": RESYNC,
        "examples": [
            _example(
                "gap",
                {"gateway": "gw-17", "reason": "seq_gap", "missing_from": 1043, "ts": EXAMPLE_TS},
            )
        ],
    },
    "brokerDropped": {
        "summary": "Mosquitto's count of messages it dropped, for all clients; the hub warns when it rises",
        "contentType": "text/plain",
        "payload": {"type": "string", "pattern": "^[0-9]+$"},
    },
}


def _channel(address: str, message: str, description: str) -> dict[str, Any]:
    params = [name for name in PARAMETERS if "{" + name + "}" in address]
    channel: dict[str, Any] = {
        "address": address,
        "description": description,
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
    }
    if params:
        channel["parameters"] = {name: {"$ref": f"#/components/parameters/{name}"} for name in params}
    return channel


def _address(subscription: str, *names: str) -> str:
    """A subscription's topic filter with its `+` levels named as channel parameters."""
    for name in names:
        subscription = subscription.replace("+", "{" + name + "}", 1)
    return subscription


# The topics as the hub's own code names them, under a prefix that stays a parameter.
TOPICS = Topics("{prefix}")
FRAME_TOPIC, BERTH_TOPIC, STATUS_TOPIC = TOPICS.subscriptions()
TTS_TOPIC, CHIRPSTACK_TOPIC = SUBSCRIPTIONS
CHANNELS = {
    "lotEvents": _channel(_address(FRAME_TOPIC, "lot"), "batchFrame", "a lot gateway's batch frames"),
    "berth": _channel(_address(BERTH_TOPIC, "lot", "berth"), "berthReport", "one sensor's reports"),
    "lotStatus": _channel(
        _address(STATUS_TOPIC, "lot"), "gatewayStatus", "the lot gateway's status and Last Will"
    ),
    "ttsUplinks": _channel(_address(TTS_TOPIC, "application", "device"), "ttsUplink", "The Things Stack v3"),
    "chirpstackUplinks": _channel(
        _address(CHIRPSTACK_TOPIC, "applicationId", "devEui"), "chirpstackUplink", "ChirpStack v4"
    ),
    "lotErrors": _channel(
        TOPICS.errors("{lot}"),
        "errorReport",
        "rejections of messages for this lot (or this well-formed lot id)",
    ),
    "errors": _channel(TOPICS.errors(None), "errorReport", "rejections that name no lot"),
    "lotResync": _channel(TOPICS.resync("{lot}"), "resyncRequest", "resync requests to the lot's gateways"),
    "brokerDropped": _channel(BROKER_DROPPED, "brokerDropped", "Mosquitto's $SYS count of dropped messages"),
}


def _operation(action: str, channel: str, summary: str, *, retain: bool = False) -> dict[str, Any]:
    bindings: dict[str, Any] = {"qos": 1, "bindingVersion": "0.2.0"}
    if retain:
        bindings["retain"] = True
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "bindings": {"mqtt": bindings},
    }


OPERATIONS = {
    "readFrames": _operation("receive", "lotEvents", "the hub applies each frame's valid events"),
    "readBerthReports": _operation("receive", "berth", "the hub applies the report"),
    "readStatus": _operation("receive", "lotStatus", "the hub marks the lot online or offline", retain=True),
    "readTtsUplinks": _operation("receive", "ttsUplinks", "the hub decodes the sensor's payload"),
    "readChirpstackUplinks": _operation(
        "receive", "chirpstackUplinks", "the hub decodes the sensor's payload"
    ),
    "reportLotErrors": _operation(
        "send", "lotErrors", "one report per rejected message, or per code in a frame"
    ),
    "reportErrors": _operation("send", "errors", "one report per rejected message"),
    "requestResync": _operation("send", "lotResync", "sent when a gateway's seq skips numbers; not retained"),
    "watchBrokerDrops": _operation("receive", "brokerDropped", "read every sys_interval"),
}


def asyncapi_document() -> dict[str, Any]:
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "parking-hub MQTT interface",
            "version": __version__,
            "description": "What lot gateways, sensors and LoRaWAN network servers publish to the hub, and "
            "what the hub publishes back. QoS 1 throughout; every payload is JSON of at most "
            f"{MAX_PAYLOAD_BYTES:,} bytes (`payload_too_large`). Operations are the hub's: `receive` "
            "is what it reads, `send` what it publishes.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "broker": {
                "host": "127.0.0.1:1883",
                "protocol": "mqtt",
                "description": "the broker the hub connects to (`--mqtt-url`)",
            }
        },
        "channels": CHANNELS,
        "operations": OPERATIONS,
        "components": {"messages": MESSAGES, "parameters": PARAMETERS},
    }
