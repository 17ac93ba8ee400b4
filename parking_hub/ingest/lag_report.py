"""Reports this process's ingest lag to Redis every second, for the API's city-wide view."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from parking_hub.store import ingest_lag
from parking_hub.store.connection import REDIS_ERRORS, RedisClient
from parking_hub.tasks import raise_if_cancelling

log = logging.getLogger(__name__)

REPORT_EVERY_S = 1.0


async def report_lag(redis: RedisClient, client_id: str, lag_s: Callable[[], float]) -> None:
    """Run until cancelled. A report that fails is logged (once per outage) and sent again next turn."""
    failing = False
    while True:
        raise_if_cancelling()
        try:
            await ingest_lag.write(redis, client_id, lag_s())
        except REDIS_ERRORS as exc:
            raise_if_cancelling(exc)
            if not failing:
                log.warning(
                    "cannot report ingest lag to redis (%s); retrying every %.0f s",
                    exc,
                    REPORT_EVERY_S,
                )
            failing = True
        else:
            if failing:
                log.info("ingest lag reported to redis again")
            failing = False
        await asyncio.sleep(REPORT_EVERY_S)
