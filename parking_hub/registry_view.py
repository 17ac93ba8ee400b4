"""The registry as one hub process sees it, kept current from Redis for ingest and the API alike.

The service creates one view and runs `follow`. The view reads the registry at start, again after
every registry notice (`lots load`, `lots remove`), and again after every reconnect, since notices
sent meanwhile are lost. Each read builds the layout and hands the lots to the followers, each of
which keeps what it needs of them: ingest its device index, the API its mirror. The view keeps no
lots itself: in an ingest process they would cost some 50 MiB per million berths.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any, Protocol

from parking_hub.backoff import Backoff, retry
from parking_hub.observe import Health
from parking_hub.registry import Lot
from parking_hub.store import notices
from parking_hub.store.connection import REDIS_ERRORS, RedisClient
from parking_hub.store.layout import Layout
from parking_hub.store.lots import load_lots
from parking_hub.tasks import raise_if_cancelling, until_first_error

log = logging.getLogger(__name__)


class Follower(Protocol):
    async def registry_read(self, lots: Sequence[Lot], layout: Layout) -> None:
        """After each read of the registry: build again what it keeps from it."""


class Mirror(Follower, Protocol):
    """A follower that also keeps the lots' state (the API's availability mirror). It hears the
    view's notices of lots whose state moved, and runs its loops while the view is connected: a
    Redis error in any of them is a lost connection, after which everything is read again."""

    def lots_moved(self, lots: Sequence[str]) -> None: ...

    def loops(self) -> dict[str, Coroutine[Any, Any, None]]: ...

    def lost(self) -> None:
        """Redis failed: what it holds may be out of date until the next `registry_read`."""


def _return_free_memory() -> None:
    """Hands the heap's free pages back to the system (glibc): reading a large registry leaves
    hundreds of MiB of freed parse objects that would otherwise stay in the process's RSS."""
    libc = ctypes.util.find_library("c")
    if libc is not None and hasattr(trim := ctypes.CDLL(libc), "malloc_trim"):
        trim.malloc_trim(0)


class RegistryView:
    def __init__(self, redis: RedisClient, health: Health) -> None:
        self._redis = redis
        self._health = health
        self.layout = Layout.build({})
        self.loaded = asyncio.Event()  # set once the registry has been read

    async def follow(self, *followers: Follower, mirror: Mirror | None = None) -> None:
        """Run until cancelled, telling `followers` and `mirror` of every read of the registry."""
        readers = (*followers, *(() if mirror is None else (mirror,)))
        backoff = Backoff()

        async def connected() -> None:
            async with notices.subscribe(self._redis, changes=mirror is not None) as incoming:
                await self._read(readers)
                backoff.reset()
                self._health.redis_ok = True
                loops = {"registry.listen": self._listen(incoming, readers, mirror)}
                await until_first_error(loops | ({} if mirror is None else mirror.loops()), REDIS_ERRORS)

        def failed(exc: Exception, delay: float) -> None:
            if mirror is not None:
                mirror.lost()
            self._health.redis_ok = False
            log.warning("redis unavailable (%s); retrying in %.1f s", exc, delay)

        await retry(connected, REDIS_ERRORS, failed, backoff)

    async def _read(self, readers: Sequence[Follower]) -> None:
        lots = await load_lots(self._redis)
        self.layout = Layout.of(lots)
        for reader in readers:
            await reader.registry_read(lots, self.layout)
        # A big registry is millions of long-lived objects (lots, bays, devices). Left to the cyclic
        # garbage collector, each full collection walks all of them: a pause of a few hundred ms
        # under load. Freezing moves them out of its sight; they are still freed when unreferenced.
        gc.collect()
        gc.freeze()
        _return_free_memory()
        self._health.index_loaded = True
        self.loaded.set()
        log.info("registry loaded: %d lots, %d berths", len(lots), self.layout.berth_count)

    async def _listen(
        self, incoming: AsyncIterator[notices.Notice], readers: Sequence[Follower], mirror: Mirror | None
    ) -> None:
        async for notice in incoming:
            raise_if_cancelling()
            if notice.registry:
                await self._read(readers)
            elif mirror is not None:
                mirror.lots_moved(notice.lots)
