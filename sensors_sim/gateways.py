"""Lot gateways as the simulator plays them: batch frames, their numbering, and resync answers.

Each gateway numbers its frames `seq` 1, 2, 3, ... for as long as the process runs, lost frames
included, so the hub sees a gap where one went missing (contract 7.4). A restarted simulator is a
restarted gateway and counts from 1 again. Each gateway remembers the greatest report (by the
order rule) it sent for each of its berths; asked to resync, it sends that back, every berth with
its own observation time, so the answer can only restore what the hub missed.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from sensors_sim.registry import Registry

MAX_FRAME_EVENTS = 10_000  # contract 3: the most events a batch frame may carry

IntArray = npt.NDArray[np.int64]
Integers = npt.NDArray[np.integer[Any]]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ResyncFrame:
    payload: bytes
    berth: IntArray  # city-wide berths and their ranks (ts * 2 + occupied), as in the frame
    rank: IntArray


class Gateways:
    """The gateways of the lots in `present`, named `{name_prefix}{lot_id}`."""

    def __init__(self, registry: Registry, present: BoolArray, prefix: str, name_prefix: str = "gw-") -> None:
        self._lot_ids = registry.lot_ids
        self._offsets = registry.offsets
        self._capacity = registry.capacity
        self._prefix = prefix
        self._name_prefix = name_prefix
        self._lots = {lot_id: lot for lot, lot_id in enumerate(registry.lot_ids) if present[lot]}
        self._seq = np.zeros(len(registry.lot_ids), dtype=np.int64)
        self._sent = np.zeros(registry.berths, dtype=np.int64)  # per berth, 0: nothing sent yet

    def name(self, lot: int) -> str:
        return f"{self._name_prefix}{self._lot_ids[lot]}"

    def topic(self, lot: int) -> str:
        return f"{self._prefix}/v1/lots/{self._lot_ids[lot]}/events"

    def lot_of(self, lot_id: str, gateway: str) -> int | None:
        """The lot whose gateway this is, when it is one of these gateways."""
        lot = self._lots.get(lot_id)
        return lot if lot is not None and gateway == self.name(lot) else None

    def next_seq(self, lot: int) -> int:
        self._seq[lot] += 1
        return int(self._seq[lot])

    def remember(self, berth: IntArray, rank: IntArray) -> None:
        """Reports the gateways sent (or tried to: lost frames count), by city-wide berth."""
        np.maximum.at(self._sent, berth, rank)

    def frame(self, lot: int, berth: Integers, occupied: Integers, ts: Integers) -> bytes:
        """The next numbered batch frame of `lot`'s gateway; `berth` numbered within the lot."""
        body = {"gateway": self.name(lot), "seq": self.next_seq(lot), "berth": berth}
        body |= {"occupied": occupied, "ts": ts}
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)

    def resync(self, lot: int) -> list[ResyncFrame]:
        """Each berth's last report, in numbered frames; berths never reported are left out."""
        first = int(self._offsets[lot])
        berth = first + np.flatnonzero(self._sent[first : first + int(self._capacity[lot])])
        frames = []
        for part in np.split(berth, range(MAX_FRAME_EVENTS, len(berth), MAX_FRAME_EVENTS)):
            if len(part):
                rank = self._sent[part]
                payload = self.frame(lot, part - first, rank & 1, rank >> 1)
                frames.append(ResyncFrame(payload, part, rank))
        return frames
