"""Tells stream readers that some lots' counts changed; each reader finds which by their versions."""

from __future__ import annotations

import asyncio


class ChangeFeed:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def publish(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout_s: float) -> bool:
        """True when a change came within timeout_s."""
        event = self._event
        try:
            async with asyncio.timeout(timeout_s):
                await event.wait()
        except TimeoutError:
            return False
        return True
