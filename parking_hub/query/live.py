"""The API's mirror of the city, kept current: read whole on every read of the registry, lots
re-read on their change notices, recounted as berths fall silent, and checked against Redis in turn.

It follows the process's registry view (registry_view.py), which owns the subscription and the
retries: a lost connection ends these loops, and the view's next read rebuilds the mirror whole.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Coroutine, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from parking_hub.arrays import IntArray
from parking_hub.query.arrival import keep_outlook
from parking_hub.query.availability import Availability
from parking_hub.query.changes import ChangeFeed
from parking_hub.query.index import CityIndex
from parking_hub.query.nearest import NearestQuery, nearest_lots
from parking_hub.registry import Lot
from parking_hub.store import ingest_lag
from parking_hub.store.connection import RedisClient
from parking_hub.store.layout import Layout
from parking_hub.tasks import raise_if_cancelling

TICK_S = 0.5  # recount lots whose berths fell silent, so they turn unknown within the freshness bound
RESYNC_S = 30.0  # every lot is checked against Redis within this period, in case a notice was lost
# Lots checked per round trip: a check costs some 12 us of CPU per lot, and requests wait while it
# runs, so a share of a large city (833 of 50,000 lots per tick) is checked a slice at a time.
VERIFY_CHUNK = 100


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class LiveCity:
    """A `registry_view.Mirror`."""

    def __init__(self, redis: RedisClient, timezone: ZoneInfo | None = None) -> None:
        self._redis = redis
        self._timezone = timezone  # of lots whose registry entry names none
        self.state: Availability | None = None
        # False while Redis is unreachable, until the mirror has been read whole again: what it
        # holds may then be out of date, so the API answers 503 rather than serve it.
        self.in_sync = False
        self.registry_loaded_ms = 0
        self.changes = ChangeFeed()
        self.ingest = ingest_lag.CityLag()  # the ingest processes' lag, read with each tick
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()

    @property
    def redis(self) -> RedisClient:
        return self._redis

    async def registry_read(self, lots: Sequence[Lot], layout: Layout) -> None:
        """A new mirror of these lots, every one read from Redis."""
        self.registry_loaded_ms = now_ms()  # the static data's age, for feeds that publish it
        state = Availability(CityIndex.build(lots, layout), self._timezone, now_ms())
        await state.refresh(self._redis, layout.ids, now_ms())
        nearest_lots(state, NearestQuery(0.0, 0.0))  # compiles the search kernel now, not on a request
        self.state = state
        self.in_sync = True
        self.changes.publish()

    def forecasts_ready(self) -> bool:
        return self.state is not None and self.state.outlook is not None

    def lots_moved(self, lots: Sequence[str]) -> None:
        self._dirty.update(lots)
        self._wake.set()

    def loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {
            "live.refresh": self._refresh_loop(),
            "live.tick": self._tick_loop(),
            "live.outlook": keep_outlook(self._redis, lambda: self.state),
        }

    def lost(self) -> None:
        self.in_sync = False

    async def _refresh_loop(self) -> None:
        while True:
            raise_if_cancelling()
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            if self.state is not None and dirty:
                self._announce(await self.state.refresh(self._redis, dirty, now_ms()))

    async def _tick_loop(self) -> None:
        """Each turn reads the ingest processes' lag, recounts the lots past their staleness deadline
        and checks the next share of the city against Redis, so the whole city is checked every
        RESYNC_S without a burst of work."""
        cursor = 0
        while True:
            raise_if_cancelling()
            await asyncio.sleep(TICK_S)
            self.ingest = await ingest_lag.read(self._redis)
            state = self.state
            if state is None:
                continue
            lots = state.index.lots
            share = max(1, math.ceil(len(lots) * TICK_S / RESYNC_S))
            cursor = 0 if cursor >= len(lots) else cursor
            ids = [lot.id for lot in lots[cursor : cursor + share]]
            cursor += share
            for first in range(0, len(ids), VERIFY_CHUNK):
                self._announce(await state.verify(self._redis, ids[first : first + VERIFY_CHUNK], now_ms()))
            self._announce(state.tick(now_ms()))

    def _announce(self, *moved: IntArray) -> None:
        if any(len(m) for m in moved):
            self.changes.publish()
