"""Keeps a process's view of the city current: the registry, and (for the API) the availability mirror."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import math
import time
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from parking_hub.arrays import IntArray
from parking_hub.backoff import full_jitter
from parking_hub.ingest.lorawan import DeviceIndex
from parking_hub.observe import Health
from parking_hub.query.arrival import keep_outlook
from parking_hub.query.availability import Availability
from parking_hub.query.changes import ChangeFeed
from parking_hub.query.index import CityIndex
from parking_hub.query.nearest import NearestQuery, nearest_lots
from parking_hub.store import ingest_lag, notices
from parking_hub.store.connection import REDIS_ERRORS, RedisClient, raise_if_cancelling
from parking_hub.store.layout import Layout
from parking_hub.store.lots import load_lots
from parking_hub.tasks import until_first_error

log = logging.getLogger(__name__)

TICK_S = 0.5  # recount lots whose berths fell silent, so they turn unknown within the freshness bound
RESYNC_S = 30.0  # every lot is checked against Redis within this period, in case a notice was lost


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _return_free_memory() -> None:
    """Hands the heap's free pages back to the system (glibc): reading a large registry leaves
    hundreds of MiB of freed parse objects that would otherwise stay in the process's RSS."""
    libc = ctypes.util.find_library("c")
    if libc is not None and hasattr(trim := ctypes.CDLL(libc), "malloc_trim"):
        trim.malloc_trim(0)


class LiveCity:
    def __init__(
        self,
        redis: RedisClient,
        health: Health,
        *,
        track_availability: bool,
        timezone: ZoneInfo | None = None,
    ) -> None:
        self._redis = redis
        self._timezone = timezone  # of lots whose registry entry names none
        self._health = health
        self._track = track_availability
        self.capacity: dict[str, int] = {}
        self.layout = Layout.build({})
        self.devices = DeviceIndex(())
        self.state: Availability | None = None
        # False while Redis is unreachable, until the mirror has been read whole again: what it
        # holds may then be out of date, so the API answers 503 rather than serve it.
        self.in_sync = False
        self.registry_loaded_ms = 0
        self.loaded = asyncio.Event()  # set once the registry has been read
        self.changes = ChangeFeed()
        self.ingest = ingest_lag.CityLag()  # the ingest processes' lag, read with each tick
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()

    @property
    def redis(self) -> RedisClient:
        return self._redis

    async def run(self) -> None:
        attempt = 0
        while True:
            raise_if_cancelling()
            try:
                async with notices.subscribe(self._redis) as incoming:
                    await self._reload()
                    self.in_sync = True
                    attempt = 0
                    self._health.redis_ok = True
                    loops = {"live.listen": self._listen(incoming)}
                    if self._track:
                        loops |= {
                            "live.refresh": self._refresh_loop(),
                            "live.tick": self._tick_loop(),
                            "live.outlook": keep_outlook(self._redis, lambda: self.state),
                        }
                    await until_first_error(loops, REDIS_ERRORS)
            except REDIS_ERRORS as exc:
                raise_if_cancelling(exc)
                self.in_sync = False
                self._health.redis_ok = False
                delay = full_jitter(attempt)
                attempt += 1
                log.warning("redis unavailable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)

    async def _reload(self) -> None:
        """Read the registry and, when tracking, every lot's state."""
        lots = await load_lots(self._redis)
        self.registry_loaded_ms = now_ms()  # the static data's age, for feeds that publish it
        self.capacity = {lot.id: lot.capacity for lot in lots}
        self.layout = Layout.build(self.capacity, {lot.id: lot.heartbeat_s for lot in lots})
        self.devices = DeviceIndex(lots)
        if self._track:
            state = Availability(CityIndex.build(lots), self._timezone, now_ms())
            await state.refresh(self._redis, self.capacity, now_ms())
            nearest_lots(state, NearestQuery(0.0, 0.0))  # compiles the search kernel now, not on a request
            self.state = state
            self.changes.publish()
        # A big registry is millions of long-lived objects (lots, bays, devices). Left to the cyclic
        # garbage collector, each full collection walks all of them: a pause of a few hundred ms
        # under load. Freezing moves them out of its sight; they are still freed when unreferenced.
        gc.collect()
        gc.freeze()
        _return_free_memory()
        self._health.index_loaded = True
        self.loaded.set()
        log.info("registry loaded: %d lots, %d berths", len(lots), sum(self.capacity.values()))

    async def _listen(self, incoming: AsyncIterator[notices.Notice]) -> None:
        async for notice in incoming:
            raise_if_cancelling()
            if notice.registry:
                await self._reload()
            else:
                self._dirty.update(notice.lots)
                self._wake.set()

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
            moved = await state.verify(self._redis, ids, now_ms())
            self._announce(moved, state.tick(now_ms()))

    def _announce(self, *moved: IntArray) -> None:
        if any(len(m) for m in moved):
            self.changes.publish()
