"""Request limits: sizes the HTTP parser accepts, and the time a handler may take to answer."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from parking_hub.api.errors import ApiError

# Breaches of these are answered 400 by aiohttp's parser, before any handler runs.
MAX_REQUEST_LINE_BYTES = 8190  # method, URL with its query, and protocol
MAX_HEADER_BYTES = 8190  # one header line
MAX_HEADERS = 128
REQUEST_TIME_LIMIT_S = 10.0


def time_limit(seconds: float, untimed: Collection[Handler]) -> Middleware:
    """Answers 503 `request_timeout` when a handler has not answered within `seconds`.

    Handlers in `untimed` (streams, which answer for as long as the client stays) are left alone.
    """

    @web.middleware
    async def limit_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.handler in untimed:
            return await handler(request)
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await handler(request)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise ApiError(
                503,
                "request_timeout",
                f"the answer took longer than {seconds:g} s; retry later",
                headers={"Retry-After": "1"},
            ) from None

    return limit_time
