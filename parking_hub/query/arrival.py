"""Free berths at arrival (`eta_s` on /v1/nearest): every lot's model kept fitted, its outlook current.

`keep_outlook` runs beside an API process's mirror. It fits each lot's model (query/forecast) from
its 15-minute history a chunk of lots at a time, in a worker thread, and builds the city's
`CityOutlook` (query/outlook) from the models: first as soon as one pass over the registry is done,
then every REBUILD_S, while later passes refit the lots spread over REBUILD_S. The outlook is held
by the mirror it was built for (`Availability.outlook`), so a registry reload, which makes a new
mirror, never reads positions of the old one: the new mirror answers by persistence until its own
outlook is built.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import numpy as np

from parking_hub.query.availability import Availability
from parking_hub.query.forecast import MAX_HORIZON_MIN, LotModel, fit
from parking_hub.query.geo import FloatArray
from parking_hub.query.outlook import REBUILD_S, CityOutlook
from parking_hub.query.ranges import IntArray
from parking_hub.store import history
from parking_hub.store.connection import RedisClient

FIT_CHUNK = 32  # lots read and fitted between two yields to the event loop
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
        state = current()
        if state is None or not state.index.lots:
            await asyncio.sleep(IDLE_S)
            continue
        await _follow(redis, state, current)


async def _follow(
    redis: RedisClient, state: Availability, current: Callable[[], Availability | None]
) -> None:
    """Fits the mirror's lots in turn, round after round, and rebuilds its outlook every REBUILD_S;
    returns once another mirror (a reloaded registry) is current."""
    lots = state.index.lots
    capacity = np.array([lot.capacity for lot in lots], dtype=np.int64)
    models: list[LotModel | None] = [None] * len(lots)
    next_build = float("inf")  # the first build waits for the first round
    while True:
        start = time.monotonic()
        for first in range(0, len(lots), FIT_CHUNK):
            if current() is not state:
                return
            chunk = lots[first : first + FIT_CHUNK]
            samples = [(await history.read(redis, lot.id, lot.capacity))[history.COARSE] for lot in chunk]
            models[first : first + len(chunk)] = await asyncio.to_thread(_fit_all, samples)
            if next_build == float("inf"):
                await asyncio.sleep(0)
            else:  # later rounds spread over REBUILD_S
                done = (first + len(chunk)) / len(lots)
                if not await _wait_until(start + done * REBUILD_S, state, current):
                    return
            if time.monotonic() >= next_build:
                await _build(state, current, models, capacity)
                next_build = time.monotonic() + REBUILD_S
        if next_build == float("inf"):
            await _build(state, current, models, capacity)
            next_build = time.monotonic() + REBUILD_S


async def _wait_until(
    deadline: float, state: Availability, current: Callable[[], Availability | None]
) -> bool:
    """Sleeps until `deadline` (monotonic); False as soon as another mirror is current."""
    while (left := deadline - time.monotonic()) > 0:
        if current() is not state:
            return False
        await asyncio.sleep(min(left, IDLE_S))
    return current() is state


async def _build(
    state: Availability,
    current: Callable[[], Availability | None],
    models: list[LotModel | None],
    capacity: IntArray,
) -> None:
    outlook = await asyncio.to_thread(CityOutlook.build, list(models), capacity, time.time())
    if current() is state:
        state.outlook = outlook
