"""Whole-city answers of the open-data feeds (ParkAPI, DATEX II), built once for every poller."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from aiohttp import web

from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """Every lot's live state at one instant, copied on the event loop, so that an answer can be
    built in a thread while the mirror goes on changing; free berths per feature for those asked."""

    free: list[int]
    known: list[int]
    online: list[bool]
    open_now: list[bool]
    updated_ms: list[int]
    free_by_feature: dict[str, list[int]]

    @classmethod
    def of(cls, state: Availability, features: Sequence[str] = ()) -> LiveCounts:
        every = np.arange(len(state.index.lots))
        return cls(
            free=state.free_counts().tolist(),
            known=state.known_n.tolist(),
            online=state.online_mask(every).tolist(),
            open_now=state.open_now.tolist(),
            updated_ms=state.updated_ms.tolist(),
            free_by_feature={feature: state.free_counts((feature,)).tolist() for feature in features},
        )


@dataclass(slots=True)
class _Built:
    index: CityIndex
    key: int
    body: asyncio.Future[bytes]

    def serves(self, index: CityIndex, key: int) -> bool:
        failed = self.body.done() and (self.body.cancelled() or self.body.exception() is not None)
        return self.index is index and self.key == key and not failed


class Publications:
    """The answers built last, so that pollers cost one build however many ask: a static one once per
    registry load, a live one at most once a second, which the answers' Cache-Control: max-age=1
    already allows. Each is built in a thread, from data that does not change under it, so the
    event loop goes on answering meanwhile (figures in docs/benchmarks.md)."""

    def __init__(self) -> None:
        self._built: dict[str, _Built] = {}

    async def get(
        self, name: str, index: CityIndex, key: int, prepare: Callable[[], Callable[[], bytes]]
    ) -> bytes:
        """The answer `name` for (index, key); else `prepare` runs here, on the event loop (where it
        may read the mirror), and the build it returns runs in a thread."""
        built = self._built.get(name)
        if built is None or not built.serves(index, key):
            build = asyncio.ensure_future(asyncio.to_thread(prepare()))
            built = self._built[name] = _Built(index, key, build)
        # A request that gives up (its client gone, the time limit) leaves the build to the next one.
        return await asyncio.shield(built.body)


publications_key = web.AppKey("publications", Publications)
