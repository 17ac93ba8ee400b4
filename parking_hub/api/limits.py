"""Request limits: connections, sizes the HTTP parser accepts, and the time a request may take."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Collection

from aiohttp import web
from aiohttp.typedefs import Handler

from parking_hub.api.errors import ApiError

MAX_CONNECTIONS = 2000  # per process: 1,000 streams and as many other clients
HEADER_TIMEOUT_S = 10.0  # from a connection's opening, or a request's first byte, to its headers' end
# Breaches of these are refused by aiohttp's parser (414, 431), before any handler runs. The two
# line limits differ so that the parser's error, which names the limit, tells which line broke it.
MAX_REQUEST_LINE_BYTES = 8192  # the URL with its query
MAX_HEADER_BYTES = 8190  # one header line
MAX_HEADERS = 128
REQUEST_TIME_LIMIT_S = 10.0


class TimeLimit:
    """Answers 503 `request_timeout` when a handler has not answered within `seconds`.

    A watchdog looks over the requests in flight twenty times per limit and cancels the late ones,
    so a request costs a clock read and a dict entry (`watch` and `release`, called by the request
    guard): a timer per request (asyncio.timeout) cost
    about a tenth of the API's request rate. Handlers in `untimed` (streams, which answer for as
    long as the client stays) are left alone.
    """

    def __init__(self, seconds: float, untimed: Collection[Handler]) -> None:
        self._seconds = seconds
        self._untimed = untimed
        self._deadlines: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()

    def watch(self, request: web.Request) -> asyncio.Task[object] | None:
        """Starts the clock on the request's task; None for an untimed handler."""
        task = asyncio.current_task()
        if task is None or request.match_info.handler in self._untimed:
            return None
        self._deadlines[task] = time.monotonic() + self._seconds
        return task

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether the task's cancellation was the watchdog's alone (a server stopping cancels too)."""
        return task in self._expired and task.uncancel() == 0

    def release(self, task: asyncio.Task[object]) -> None:
        del self._deadlines[task]
        self._expired.discard(task)

    def error(self) -> ApiError:
        return ApiError(
            503,
            "request_timeout",
            f"the answer took longer than {self._seconds:g} s; retry later",
            headers={"Retry-After": "1"},
        )

    async def watchdog(self, app: web.Application) -> AsyncIterator[None]:
        """The app's cleanup context: the watchdog runs while the app does."""
        watching = asyncio.create_task(self._watch(), name="api.time-limit")
        yield
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._seconds / 20)
            now = time.monotonic()
            for task, deadline in list(self._deadlines.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()
