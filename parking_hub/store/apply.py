"""Apply batches of berth reports and gateway statuses to Redis under the order rule."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

from parking_hub.store import keys
from parking_hub.store.connection import RedisClient

_APPLY_LUA = files("parking_hub.store").joinpath("apply.lua").read_text()
_STATUS_LUA = files("parking_hub.store").joinpath("status.lua").read_text()


@dataclass(frozen=True, slots=True)
class LotReports:
    """One lot's share of a batch: de-duplicated berths with their greatest rank."""

    lot: str
    events: int  # valid events before de-duplication; all of them went through the order rule
    berths: npt.NDArray[np.int64]
    ranks: npt.NDArray[np.int64]


@dataclass(slots=True)
class Batch:
    """Everything one Redis round trip writes."""

    reports: list[LotReports]
    statuses: dict[str, int]  # lot -> greatest status rank (ts * 2 + online) in the batch
    rejected: dict[str, int]  # lot -> rejected events
    rejected_unattributed: int = 0

    def touched_lots(self) -> list[str]:
        return sorted({r.lot for r in self.reports} | set(self.statuses) | set(self.rejected))


class StateWriter:
    """Writes a batch in one pipelined round trip (standalone) and announces the lots it touched."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._apply = redis.register_script(_APPLY_LUA)
        self._status = redis.register_script(_STATUS_LUA)

    async def write(self, batch: Batch) -> int:
        """Returns how many reports won; raises on Redis errors so the caller can retry the batch."""
        calls: list[tuple[Any, list[str], list[int | str]]] = []
        for r in batch.reports:
            args: list[int | str] = [len(r.berths), r.events, *r.berths.tolist(), *r.ranks.tolist()]
            calls.append((self._apply, [keys.occupancy(r.lot), keys.reports(r.lot), keys.meta(r.lot)], args))
        for lot, rank in batch.statuses.items():
            calls.append((self._status, [keys.meta(lot)], [rank]))
        if isinstance(self._redis, Redis):
            pipe = self._redis.pipeline(transaction=False)
            for script, script_keys, args in calls:
                await script(keys=script_keys, args=args, client=pipe)
            self._queue_counters(pipe, batch)
            results = await pipe.execute()
        else:
            # Cluster pipelines do not carry scripts; each call still touches one lot, one slot.
            results = await asyncio.gather(*(s(keys=k, args=a) for s, k, a in calls))
            counters = self._redis.pipeline()
            self._queue_counters(counters, batch)
            await counters.execute()
        touched = batch.touched_lots()
        if touched:
            await self._redis.publish(keys.CHANGES_CHANNEL, " ".join(touched))
        return int(sum(results[: len(batch.reports)]))

    @staticmethod
    def _queue_counters(pipe: Any, batch: Batch) -> None:
        for lot, count in batch.rejected.items():
            pipe.hincrby(keys.meta(lot), "rejected", count)
        if batch.rejected_unattributed:
            pipe.incrby(keys.REJECTED_UNATTRIBUTED, batch.rejected_unattributed)
