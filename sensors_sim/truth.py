"""What the simulator delivered, reduced by the order rule: the state the hub must end up in.

Per berth the greatest rank (`ts * 2 + occupied`) among the valid reports the broker acknowledged;
per lot the greatest gateway status rank (`ts * 2 + online`). `run` writes it; `verify` reads it.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt

from sensors_sim.encoders import Message
from sensors_sim.registry import Registry

IntArray = npt.NDArray[np.int64]


class TruthError(ValueError):
    """The truth file cannot be read, or does not belong to the registry."""


@dataclass(slots=True)
class Truth:
    lot_ids: list[str]
    capacity: IntArray
    rank: IntArray  # per berth, 0 = nothing delivered
    status: IntArray  # per lot, 0 = no status delivered
    delivered: int = 0  # valid reports delivered (duplicates included)
    rejected: int = 0  # reports delivered that the hub must reject
    messages: int = 0

    @classmethod
    def empty(cls, registry: Registry) -> Self:
        return cls(
            list(registry.lot_ids),
            registry.capacity.copy(),
            np.zeros(registry.berths, dtype=np.int64),
            np.zeros(len(registry.lot_ids), dtype=np.int64),
        )

    def record(self, messages: Sequence[Message]) -> None:
        """Messages the broker acknowledged."""
        if not messages:
            return
        berth = np.concatenate([m.berth for m in messages])
        np.maximum.at(self.rank, berth, np.concatenate([m.rank for m in messages]))
        self.delivered += len(berth)
        self.rejected += sum(m.rejected for m in messages)
        self.messages += len(messages)

    def record_status(self, lot: int, ts_ms: int, online: bool) -> None:
        self.status[lot] = max(int(self.status[lot]), ts_ms * 2 + int(online))

    def save(self, path: Path) -> None:
        """Written whole, then moved into place, so a reader never sees half a file."""
        part = path.with_name(path.name + ".part")
        with part.open("wb") as out:
            np.savez_compressed(
                out,
                lot_ids=np.array(self.lot_ids),
                capacity=self.capacity,
                rank=self.rank,
                status=self.status,
                counts=np.array([self.delivered, self.rejected, self.messages], dtype=np.int64),
            )
        os.replace(part, path)

    @classmethod
    def load(cls, path: Path, registry: Registry) -> Self:
        try:
            with np.load(path, allow_pickle=False) as data:
                lot_ids = [str(x) for x in data["lot_ids"]]
                capacity, rank, status, counts = (data[k] for k in ("capacity", "rank", "status", "counts"))
        except (OSError, KeyError, ValueError) as exc:
            raise TruthError(f"cannot read the truth file {path}: {exc}") from None
        if lot_ids != registry.lot_ids or not np.array_equal(capacity, registry.capacity):
            raise TruthError(f"{path} was written for another registry (lot ids or capacities differ)")
        delivered, rejected, messages = (int(c) for c in counts)
        return cls(lot_ids, capacity, rank, status, delivered, rejected, messages)
