"""HTTP in: the few hub endpoints the simulator reads (contract section 5)."""

import asyncio
import datetime as dt
import time
from types import TracebackType
from typing import Any, Self

import aiohttp

TIMEOUT_S = 10.0


class HubError(RuntimeError):
    """The hub could not be reached or answered with an error."""


class Hub:
    """The hub's HTTP API, as an async context manager holding one connection pool."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def get(self, path: str, **params: str | float) -> tuple[int, Any]:
        """Status and JSON body of a GET; raises HubError when the hub cannot be reached."""
        if self._session is None:
            raise RuntimeError("Hub is not open; use it as an async context manager")
        try:
            async with self._session.get(self.base_url + path, params=params) as resp:
                return resp.status, await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise HubError(f"{self.base_url}{path}: {str(exc) or type(exc).__name__}") from None

    async def get_ok(self, path: str, **params: str | float) -> Any:
        status, body = await self.get(path, **params)
        if status != 200:
            raise HubError(f"{self.base_url}{path} answered {status}: {body}")
        return body


def iso_ms(text: str | None) -> int:
    """Milliseconds of one of the hub's `...Z` times; 0 for null."""
    if text is None:
        return 0
    moment = dt.datetime.fromisoformat(text)
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)


async def wait_ready(hub: Hub, within_s: float) -> None:
    """Until `GET /readyz` answers 200, so what is published first is not published to nobody."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            status, _ = await hub.get("/readyz")
        except HubError:
            status = 0
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise HubError(f"{hub.base_url} was not ready within {within_s:.0f} s")
        await asyncio.sleep(0.2)
