"""Fault injection (`--faults`): what goes wrong between sensors and the hub, at chosen rates.

- duplicate: a message arrives twice (a lost acknowledgement, a bridge replay).
- reorder: a message is held back up to two minutes, so later ones overtake it.
- flap: right after a change a sensor briefly reports the old state again (see hardware.py).
- loss: a message never arrives.
- malformed: a message arrives broken (bad JSON, a berth out of range, a time in the future,
  an empty LoRaWAN payload or an unknown device), so the hub must reject it or part of it.
- skew: a gateway's or sensor's clock runs up to two minutes ahead until it is corrected.

Every decision is drawn from the seed and the message's identity, so a run is repeatable.
"""

from dataclasses import dataclass, fields
from typing import Self

import numpy as np
import numpy.typing as npt

from sensors_sim.demand import HOUR_MS
from sensors_sim.rand import Stream

DEFAULT_RATES = {
    "duplicate": 0.02,
    "reorder": 0.02,
    "flap": 0.01,
    "loss": 0.01,
    "malformed": 0.005,
    "skew": 0.1,
}
DUPLICATE_LAG_MS = (0, 20_000)
REORDER_LAG_MS = (2_000, 120_000)
SKEW_AHEAD_MS = (5_000, 120_000)
SKEW_FIXED_AFTER_MS = 4 * HOUR_MS  # mean time until a skewed clock is corrected
MALFORMED_KINDS = 3

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Faults:
    duplicate: float = 0.0
    reorder: float = 0.0
    flap: float = 0.0
    loss: float = 0.0
    malformed: float = 0.0
    skew: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Self:
        """`none`, `all`, or a comma list of names with optional rates: `loss=0.05,duplicate`."""
        rates: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            if name in ("none", "all") and not value:
                rates |= {} if name == "none" else DEFAULT_RATES
                continue
            if name not in DEFAULT_RATES:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(DEFAULT_RATES)}, all, none")
            try:
                rate = float(value) if value else DEFAULT_RATES[name]
            except ValueError:
                raise ValueError(f"the rate of {name} must be a number, not {value!r}") from None
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"the rate of {name} must be between 0 and 1")
            rates[name] = rate
        return cls(**rates)

    def __str__(self) -> str:
        chosen = [f"{f.name}={getattr(self, f.name):g}" for f in fields(self) if getattr(self, f.name)]
        return ",".join(chosen) or "none"


@dataclass(frozen=True, slots=True)
class MessageFaults:
    """Per message: lost, which way it is broken (-1: it is not), extra lag, a duplicate's lag (-1: none)."""

    lost: BoolArray
    malformed: IntArray
    lag_ms: IntArray
    duplicate_lag_ms: IntArray


class Injector:
    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._draw = Stream(seed, "faults")
        self._skew = Stream(seed, "skew")

    def for_messages(self, berth: IntArray, seq: IntArray) -> MessageFaults:
        """Decisions for messages identified by their first uplink's (berth, seq)."""
        f, draw = self.faults, self._draw
        lost = draw.uniform(berth, seq, salt=0) < f.loss
        broken = ~lost & (draw.uniform(berth, seq, salt=1) < f.malformed)
        how = (draw.uniform(berth, seq, salt=2) * MALFORMED_KINDS).astype(np.int64)
        late = draw.uniform(berth, seq, salt=3) < f.reorder
        lag = np.where(late, draw.between(*REORDER_LAG_MS, berth, seq, salt=4), 0).astype(np.int64)
        twice = ~lost & (draw.uniform(berth, seq, salt=5) < f.duplicate)
        second = np.where(twice, draw.between(*DUPLICATE_LAG_MS, berth, seq, salt=6), -1).astype(np.int64)
        return MessageFaults(lost, np.where(broken, how, -1), lag, second)

    def skewed(self, lot: IntArray) -> BoolArray:
        """Lots whose reports are stamped by a clock that runs ahead (for a while)."""
        result: BoolArray = self._skew.uniform(lot, 0) < self.faults.skew
        return result

    def clock_ahead(self, lot: IntArray, sim_ms: IntArray, start_ms: int) -> IntArray:
        """How far (ms) the clock that stamps a lot's reports runs ahead at `sim_ms`."""
        skewed = self.skewed(lot)
        ahead = self._skew.between(*SKEW_AHEAD_MS, lot, 1).astype(np.int64)
        fixed_at = start_ms + (self._skew.exponential(lot, 2) * SKEW_FIXED_AFTER_MS).astype(np.int64)
        result: IntArray = np.where(skewed & (sim_ms < fixed_at), ahead, 0)
        return result
