"""Free berths at arrival (`eta_s` on /v1/nearest): every lot's model kept fitted, its outlook current.

`keep_outlook` runs beside an API process's mirror. It fits each lot's model (query/forecast) from
its 15-minute history a chunk of lots at a time, in a worker thread, and builds the city's
`CityOutlook` (query/outlook) from the models: first as soon as one pass over the registry is done,
then every REBUILD_S, while later passes refit the lots spread over REFIT_S. The outlook is held
by the mirror it was built for (`Availability.outlook`), so a registry reload, which makes a new
mirror, never reads positions of the old one: the new mirror answers by persistence until its own
outlook is built.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from parking_hub.arrays import FloatArray, IntArray
from parking_hub.query.availability import Availability
from parking_hub.query.forecast import MAX_HORIZON_MIN, LotModel, fit
from parking_hub.query.outlook import REBUILD_S, CityOutlook
from parking_hub.store import history
from parking_hub.store.connection import RedisClient
from parking_hub.tasks import raise_if_cancelling

FIT_CHUNK = 32  # lots fitted per call in the worker thread, between looks at the registry and the clock
# Each lot's model is refitted once in this period: a fit takes some 10 ms (3 weeks of history), and
# a model's curves move little in a few hours, while the present count comes in live with each query.
REFIT_S = 6 * 3600
IDLE_S = 1.0  # how often a process without a registry looks again
MAX_AHEAD_S = MAX_HORIZON_MIN * 60


def at_arrival(
    state: Availability, positions: IntArray, free_now: IntArray, arrival_ms: int, min_free: int
) -> tuple[FloatArray, FloatArray]:
    """For these lots: expected free berths at arrival_ms and P(at least min_free free then).
    The forecast starts from the present counts; an arrival past 4 hours from now is read at 4
    hours. Before the outlook is built, by persistence: free then = free now."""
    now_s = time.time()
    ahead_s = min(max(arrival_ms / 1000 - now_s, 0.0), MAX_AHEAD_S)
    free = free_now.astype(np.float64)
    if state.outlook is None:
        return free, (free >= min_free).astype(np.float64)
    return state.outlook.at_arrival(positions, free, now_s, ahead_s, min_free)


def _fit_all(samples: Sequence[history.Samples]) -> list[LotModel | None]:
    return [fit(s) for s in samples]


async def keep_outlook(redis: RedisClient, current: Callable[[], Availability | None]) -> None:
    """Keeps the outlook of the current mirror (`current()`) built, for ever."""
    while True:
        raise_if_cancelling()  # redis-py can eat a cancel (tasks.py): shutdown must not wait
        state = current()
        if state is None or not state.index.lots:
            await asyncio.sleep(IDLE_S)
            continue
        await _Keeper(redis, state, current).run()


class _Keeper:
    """One mirror's models and outlook, kept until another mirror (a reloaded registry) is current."""

    def __init__(
        self, redis: RedisClient, state: Availability, current: Callable[[], Availability | None]
    ) -> None:
        self._redis, self._state, self._current = redis, state, current
        self._models: list[LotModel | None] = [None] * len(state.index.lots)
        self._next_build = math.inf  # monotonic; the first build waits for the first round

    async def run(self) -> None:
        lots, paced = self._state.index.lots, False
        while True:
            start = time.monotonic()
            for first in range(0, len(lots), FIT_CHUNK):
                chunk = lots[first : first + FIT_CHUNK]
                # The first round runs through; in later ones a chunk waits for the end of its share
                # of REFIT_S.
                done = (first + len(chunk)) / len(lots)
                if not await self._wait_until(start + done * REFIT_S if paced else 0.0):
                    return
                ids = [(lot.id, lot.capacity) for lot in chunk]
                samples = await history.read_ring(self._redis, ids, history.COARSE)
                raise_if_cancelling()
                fitted = await asyncio.to_thread(_fit_all, samples)
                self._models[first : first + len(chunk)] = fitted
            if not paced:
                paced, self._next_build = True, 0.0
                if not await self._wait_until(0.0):  # builds the first outlook now
                    return

    async def _wait_until(self, due: float) -> bool:
        """Waits for the monotonic time `due`, building the outlook whenever it is due; False as
        soon as another mirror is current."""
        while self._current() is self._state:
            raise_if_cancelling()
            now = time.monotonic()
            if now >= self._next_build:
                self._state.outlook = await asyncio.to_thread(
                    CityOutlook.build, list(self._models), self._state.index.layout.capacity, time.time()
                )
                self._next_build = time.monotonic() + REBUILD_S
            elif now >= due:
                return True
            else:
                await asyncio.sleep(min(due, self._next_build, now + IDLE_S) - now)
        return False
