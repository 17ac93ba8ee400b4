"""The simulator's encoders against the hub's decoders: every format, every codec, broken ones too.

The two sides are written separately and never share code; here each checks the other. Every
message the simulator makes must decode, in the hub, to exactly the reports the simulator
recorded for it, and every event it broke on purpose must be rejected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from parking_hub.ingest.formats import Decoded, decode
from parking_hub.ingest.lorawan import DeviceIndex, decode_uplink
from parking_hub.ingest.topics import Topics
from parking_hub.registry import read_registry
from sensors_sim.city import CODECS
from sensors_sim.demand import HOUR_MS
from sensors_sim.encoders import FORMATS, Message
from sensors_sim.faults import REORDER_LAG_MS, Faults
from sensors_sim.registry import Registry
from sensors_sim.traffic import Clock, Traffic, TrafficOptions
from tests.unit.simcity import codec_city

WALL0 = 1_764_201_600_000
PREFIX = "city"


def messages(
    registry: Registry, formats: tuple[str, ...], faults: str = "none", hours: int = 8
) -> list[Message]:
    traffic = Traffic(
        registry, TrafficOptions(seed=11, formats=formats, faults=Faults.parse(faults), topic_prefix=PREFIX)
    )
    clock = Clock(traffic.start_ms, WALL0, 1.0)
    out: list[Message] = []
    for until in range(traffic.start_ms + 60_000, traffic.start_ms + hours * HOUR_MS + 1, 60_000):
        out += traffic.step(until, clock).messages
    return out


class Hub:
    """The hub's decoding, as the ingest loop does it, for one registry."""

    def __init__(self, path: Path, registry: Registry) -> None:
        lots = read_registry(path)
        self.capacity = {lot.id: lot.capacity for lot in lots}
        self.devices = DeviceIndex(lots)
        self.topics = Topics(PREFIX)
        self.offset = dict(zip(registry.lot_ids, registry.offsets.tolist(), strict=True))

    def decode(self, m: Message) -> tuple[list[int], list[int], int]:
        """Global berths and ranks of the valid reports, and the number of rejected events."""
        now = WALL0 + 30 * HOUR_MS
        parsed = self.topics.parse(m.topic)
        decoded: Decoded = (
            decode(parsed, m.payload, self.capacity.get, now)
            if parsed is not None
            else decode_uplink(m.topic, m.payload, self.devices, now)
        )
        base = self.offset.get(decoded.lot or "", 0)
        return [int(b) + base for b in decoded.berths], list(decoded.ranks), decoded.rejected_events


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Registry]:
    return codec_city(tmp_path_factory.mktemp("codecs"), capacity=6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_message_decodes_to_what_the_simulator_recorded(city: tuple[Path, Registry], fmt: str) -> None:
    path, registry = city
    hub = Hub(path, registry)
    sent = messages(registry, (fmt,))
    assert len(sent) > 300
    assert {m.fmt for m in sent} == {FORMATS.index(fmt)}
    for m in sent:
        assert hub.decode(m) == (m.berth.tolist(), m.rank.tolist(), 0), m.topic


def test_every_codec_and_kind_goes_through_lorawan(city: tuple[Path, Registry]) -> None:
    path, registry = city
    hub = Hub(path, registry)
    sent = messages(registry, ("tts", "chirpstack"), hours=30)
    seen_codecs = set()
    for m in sent:
        berths, ranks, rejected = hub.decode(m)
        assert (berths, ranks, rejected) == (m.berth.tolist(), m.rank.tolist(), 0)
        seen_codecs.add(CODECS[int(registry.codec[berths[0]])])
    assert seen_codecs == set(CODECS)
    assert any(b'"f_cnt"' not in m.payload and m.topic.startswith("v3/") for m in sent)  # f_cnt 0 omitted


@pytest.mark.parametrize("fmt", FORMATS)
def test_broken_messages_are_rejected_as_the_simulator_expects(city: tuple[Path, Registry], fmt: str) -> None:
    path, registry = city
    hub = Hub(path, registry)
    sent = messages(registry, (fmt,), faults="malformed=1", hours=2)
    assert sent
    for m in sent:
        assert m.rejected >= 1
        assert hub.decode(m) == (m.berth.tolist(), m.rank.tolist(), m.rejected), m.payload[:120]
    if fmt == "native":  # some frames lose one event and keep the rest
        assert any(len(m.berth) for m in sent)


def test_duplicates_and_reordering_change_when_not_what(city: tuple[Path, Registry]) -> None:
    _, registry = city
    clean = messages(registry, FORMATS, hours=4)
    faulty = messages(registry, FORMATS, faults="duplicate=0.3,reorder=0.3", hours=4)
    assert len(faulty) > len(clean)
    end = max(m.deliver for m in clean)

    def state(sent: list[Message], until: int) -> npt.NDArray[np.int64]:
        ranks = np.zeros(registry.berths, dtype=np.int64)
        for m in sent:
            if m.deliver <= until:
                np.maximum.at(ranks, m.berth, m.rank)
        return ranks

    # Held back at most REORDER_LAG_MS: the faulty stream ends between the clean one two minutes
    # before the end and the clean one at the end.
    assert np.all(state(faulty, end) >= state(clean, end - REORDER_LAG_MS[1]))
    assert np.all(state(faulty, end) <= state(clean, end))
