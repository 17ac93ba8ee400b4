"""Request limits: sizes the HTTP parser accepts, and the time a handler may take to answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Collection

from aiohttp import web
from aiohttp.typedefs import Handler

from parking_hub.api.errors import ApiError

# Breaches of these are answered 400 by aiohttp's parser, before any handler runs.
MAX_REQUEST_LINE_BYTES = 8190  # method, URL with its query, and protocol
MAX_HEADER_BYTES = 8190  # one header line
MAX_HEADERS = 128
REQUEST_TIME_LIMIT_S = 10.0


class TimeLimit:
    """Answers 503 `request_timeout` when a handler has not answered within `seconds`.

    A watchdog looks over the requests in flight twenty times per limit and cancels the late ones,
    so a request costs a clock read and a dict entry: a timer per request (asyncio.timeout) cost
    about a tenth of the API's request rate. Handlers in `untimed` (streams, which answer for as
    long as the client stays) are left alone.
    """

    def __init__(self, seconds: float, untimed: Collection[Handler]) -> None:
        self._seconds = seconds
        self._untimed = untimed
        self._deadlines: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is None or request.match_info.handler in self._untimed:
            return await handler(request)
        self._deadlines[task] = time.monotonic() + self._seconds
        try:
            return await handler(request)
        except asyncio.CancelledError:
            if task not in self._expired or task.uncancel() > 0:
                raise
            raise ApiError(
                503,
                "request_timeout",
                f"the answer took longer than {self._seconds:g} s; retry later",
                headers={"Retry-After": "1"},
            ) from None
        finally:
            del self._deadlines[task]
            self._expired.discard(task)

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
