"""Retrying until done: every retry loop of the hub, with exponential delays and full jitter, capped."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from parking_hub.tasks import raise_if_cancelling

T = TypeVar("T")

BASE_S = 0.1
CAP_S = 10.0


class Backoff:
    """Delays between attempts, each random in [0, min(CAP_S, BASE_S * 2**attempt)]: spreads
    reconnect storms out. `reset` once an attempt got through."""

    def __init__(self) -> None:
        self._attempt = 0

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self) -> float:
        delay = random.uniform(0, min(CAP_S, BASE_S * 2 ** min(self._attempt, 30)))
        self._attempt += 1
        return delay


async def retry(
    step: Callable[[], Awaitable[T]],
    errors: tuple[type[Exception], ...],
    failed: Callable[[Exception, float], None],
    backoff: Backoff | None = None,
) -> T:
    """Await `step()` until it returns, waiting a backoff delay after each of `errors`; `failed` is
    told the error and the delay first (to log it, and mark what it means). A stop request ends it
    at once, also when a library turned it into one of `errors` or swallowed it
    (`tasks.raise_if_cancelling`). A step that runs a connection passes its `backoff` to reset
    once connected."""
    backoff = backoff or Backoff()
    while True:
        raise_if_cancelling()
        try:
            return await step()
        except errors as exc:
            raise_if_cancelling(exc)
            delay = backoff.next_delay()
            failed(exc, delay)
            await asyncio.sleep(delay)
