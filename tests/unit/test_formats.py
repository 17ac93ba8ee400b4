"""Decoding the hub's own payloads: valid events become ranks, everything else a coded rejection."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from parking_hub.ingest.formats import MAX_FRAME_EVENTS, MAX_PAYLOAD_BYTES, Decoded, decode
from parking_hub.ingest.topics import ParsedTopic, TopicKind, Topics
from parking_hub.rank import MAX_FUTURE_MS

NOW = 1_764_201_600_000
EVENTS = ParsedTopic(TopicKind.EVENTS, "qd-0001")


def capacity_of(lot: str) -> int | None:
    return {"qd-0001": 10}.get(lot)


def frame(body: Any, topic: ParsedTopic = EVENTS) -> Decoded:
    return decode(topic, body if isinstance(body, bytes) else orjson.dumps(body), capacity_of, NOW)


def codes(decoded: Decoded) -> list[tuple[str, int]]:
    return [(r.code, r.count) for r in decoded.rejections]


def test_topics_parse_under_any_prefix() -> None:
    topics = Topics("city/a")
    assert topics.parse("city/a/v1/lots/x/events") == ParsedTopic(TopicKind.EVENTS, "x")
    assert topics.parse("city/a/v1/lots/x/berths/12") == ParsedTopic(TopicKind.BERTH, "x", "12")
    assert topics.parse("city/a/v1/lots/x/status") == ParsedTopic(TopicKind.STATUS, "x")
    assert topics.parse("city/a/v1/lots/x/other") is None
    assert topics.parse("parking/v1/lots/x/events") is None
    assert topics.errors("x") == "city/a/v1/lots/x/errors"
    assert topics.errors(None) == "city/a/v1/errors"


def test_a_batch_frame_becomes_ranks() -> None:
    decoded = frame(
        {"gateway": "gw-1", "seq": 4, "berth": [3, 7], "occupied": [1, False], "ts": [NOW - 5, NOW]}
    )
    assert decoded.lot == "qd-0001"
    assert list(decoded.berths) == [3, 7]
    assert list(decoded.ranks) == [(NOW - 5) * 2 + 1, NOW * 2]
    assert not decoded.rejections


def test_a_single_berth_message_is_a_one_event_frame() -> None:
    decoded = frame({"occupied": True, "ts": NOW}, ParsedTopic(TopicKind.BERTH, "qd-0001", "9"))
    assert (list(decoded.berths), list(decoded.ranks)) == ([9], [NOW * 2 + 1])
    bad = frame({"occupied": 1, "ts": NOW}, ParsedTopic(TopicKind.BERTH, "qd-0001", "10"))
    assert codes(bad) == [("berth_out_of_range", 1)]
    named = frame({"occupied": 1, "ts": NOW}, ParsedTopic(TopicKind.BERTH, "qd-0001", "abc"))
    assert codes(named) == [("invalid_berth", 1)]
    assert codes(frame({"occupied": 1}, ParsedTopic(TopicKind.BERTH, "qd-0001", "1"))) == [
        ("invalid_payload", 1)
    ]


def test_invalid_events_are_rejected_one_by_one_and_the_rest_kept() -> None:
    decoded = frame(
        {
            "berth": [0, 10, -1, 2, 3, "4", 5, 6],
            "occupied": [1, 0, 0, 2, 1, 1, 0, 1],
            "ts": [NOW, NOW, NOW, NOW, NOW + MAX_FUTURE_MS + 1, NOW, 0, NOW + MAX_FUTURE_MS],
        }
    )
    assert list(decoded.berths) == [0, 6]
    assert sorted(codes(decoded)) == [
        ("berth_out_of_range", 2),
        ("invalid_payload", 2),
        ("ts_in_future", 1),
        ("ts_out_of_range", 1),
    ]
    assert decoded.rejected_events == 6
    assert "at indexes [1, 2]" in next(
        r.message for r in decoded.rejections if r.code == "berth_out_of_range"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "invalid_payload"),
        ({"berth": [1], "occupied": [1]}, "invalid_payload"),
        ({"berth": [1, 2], "occupied": [1], "ts": [NOW]}, "length_mismatch"),
        ({"berth": 1, "occupied": 1, "ts": NOW}, "invalid_payload"),
        (
            {
                "berth": [0] * (MAX_FRAME_EVENTS + 1),
                "occupied": [0] * (MAX_FRAME_EVENTS + 1),
                "ts": [NOW] * (MAX_FRAME_EVENTS + 1),
            },
            "batch_too_long",
        ),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "payload_too_large"),
        (b'{"berth": [1180591620717411303424], "occupied": [1], "ts": [1]}', "invalid_payload"),
        (b'{"berth": [1], "occupied": [1], "ts": [18446744073709551615]}', "invalid_payload"),
    ],
)
def test_whole_message_rejections(body: Any, code: str) -> None:
    decoded = frame(body)
    assert [r.code for r in decoded.rejections] == [code]
    assert len(decoded.berths) == 0


def test_a_frame_at_the_length_limit_is_accepted() -> None:
    n = MAX_FRAME_EVENTS
    decoded = frame({"berth": [i % 10 for i in range(n)], "occupied": [1] * n, "ts": [NOW] * n})
    assert len(decoded.berths) == n
    assert not decoded.rejections


def test_unknown_lot() -> None:
    decoded = frame({"berth": [0], "occupied": [1], "ts": [NOW]}, ParsedTopic(TopicKind.EVENTS, "nope"))
    assert decoded.lot is None
    assert codes(decoded) == [("unknown_lot", 1)]


def test_status_ranks_and_defaults_to_now() -> None:
    status = ParsedTopic(TopicKind.STATUS, "qd-0001")
    assert frame({"online": False, "ts": NOW - 1}, status).status_rank == (NOW - 1) * 2
    assert frame({"online": True}, status).status_rank == NOW * 2 + 1
    assert codes(frame({"online": "yes"}, status)) == [("invalid_payload", 1)]
    assert codes(frame({"online": True, "ts": NOW + MAX_FUTURE_MS + 1}, status)) == [("ts_in_future", 1)]
