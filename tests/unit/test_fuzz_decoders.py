"""Generated input through the hub's decoders: no exception, coded rejections, valid events kept."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking_hub.ingest.formats import decode
from parking_hub.ingest.lorawan.vendors import DECODERS, PayloadError
from parking_hub.ingest.topics import ParsedTopic, TopicKind
from tests.fuzz.inputs import (
    CAPACITY,
    Fuzzed,
    capacity_of,
    devices,
    hub_decode,
    messages,
    mutants,
    problems,
    vendor_inputs,
)
from tests.fuzz.through_hub import generate
from tests.operators_guide import REJECTION_CODES

NOW = 1_764_201_600_000
DEVICES = devices()


@settings(max_examples=400, deadline=None)
@given(messages(NOW))
def test_every_input_path_decodes_without_raising_and_as_built(message: Fuzzed) -> None:
    decoded = hub_decode(message, "parking", DEVICES, NOW)
    assert problems(message, decoded, NOW) == []


def test_byte_mutants_of_generated_input_decode_within_the_rules() -> None:
    corpus = generate(messages(NOW), 50, seed_value=3)
    for mutant in mutants(corpus, 3_000, seed=3):
        assert problems(mutant, hub_decode(mutant, "parking", DEVICES, NOW), NOW) == [], mutant


@settings(max_examples=400, deadline=None)
@given(vendor_inputs)
def test_vendor_decoders_answer_or_raise_a_coded_payload_error(
    case: tuple[str, int | None, bytes, int | None],
) -> None:
    codec, port, data, threshold = case
    failure: PayloadError | None = None
    occupied: bool | None = None
    try:
        occupied = DECODERS[codec](port, data, threshold)
    except PayloadError as exc:
        failure = exc
    if failure is not None:
        assert failure.code in REJECTION_CODES
        assert str(failure)
    else:
        assert occupied is None or isinstance(occupied, bool)


@pytest.mark.parametrize("berth", ["\u00b3", "\u0663", "\uff11", "-1", "1e2", " 1", ""])
def test_a_berth_topic_that_is_not_an_ascii_number_is_an_invalid_berth(berth: str) -> None:
    """Found by the fuzzer: superscript three passes str.isdigit() but not int(), which used to raise;
    Arabic-Indic and fullwidth digits pass both and used to be read as berth numbers."""
    topic = ParsedTopic(TopicKind.BERTH, "fz-lot", berth)
    decoded = decode(topic, b'{"occupied": 1, "ts": 5}', capacity_of, NOW)
    assert [r.code for r in decoded.rejections] == ["invalid_berth"]
    assert len(decoded.berths) == 0


@given(
    st.lists(st.one_of(st.integers(0, CAPACITY - 1), st.lists(st.integers(0, 99), max_size=2)), max_size=4)
)
def test_nested_arrays_in_a_frame_are_rejected_events(berths: list[object]) -> None:
    """Found by the fuzzer: a ragged array raised from numpy, and [[0]] was read as a 2-D array."""
    body = {"berth": berths, "occupied": [1] * len(berths), "ts": [NOW] * len(berths)}
    decoded = decode(ParsedTopic(TopicKind.EVENTS, "fz-lot"), orjson.dumps(body), capacity_of, NOW)
    assert decoded.rejected_events == sum(isinstance(b, list) for b in berths)
