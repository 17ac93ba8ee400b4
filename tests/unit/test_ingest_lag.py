"""The city's ingest lag from the processes' reports, and the loop that writes one."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
import pytest

from parking_hub.config import RedisTarget
from parking_hub.embedded import free_port
from parking_hub.ingest.lag_report import report_lag
from parking_hub.store.connection import client_for
from parking_hub.store.ingest_lag import STALE_AFTER_MS, CityLag, city_lag

NOW = 1_764_201_600_000


def report(lag_s: float, age_ms: int) -> bytes:
    return orjson.dumps({"lag_s": lag_s, "at_ms": NOW - age_ms})


def test_no_report_means_no_lag_known() -> None:
    """With no live ingest process the lag is unknown (null), never zero."""
    assert city_lag([], NOW) == CityLag(0, None)
    assert city_lag([report(0.1, STALE_AFTER_MS + 1), b"{"], NOW) == CityLag(0, None)


def test_the_city_lags_as_much_as_its_slowest_live_process() -> None:
    """The greatest lag among fresh reports counts; stale reports are left out whatever they say."""
    reports = [report(0.2, 900), report(7.5, STALE_AFTER_MS), report(999.0, 60_000)]
    assert city_lag(reports, NOW) == CityLag(2, 7.5)


async def test_redis_errors_are_logged_once_and_never_fatal(caplog: pytest.LogCaptureFixture) -> None:
    """Unreachable Redis: the loop keeps trying every second and warns once, not every turn."""
    caplog.set_level(logging.WARNING, logger="parking_hub")
    redis = client_for(RedisTarget.from_url(f"redis://127.0.0.1:{free_port()}/0"))
    task = asyncio.create_task(report_lag(redis, "hub-1", lambda: 0.0))
    await asyncio.sleep(2.5)
    assert not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await redis.aclose()
    warnings = [r.getMessage() for r in caplog.records if "cannot report ingest lag" in r.getMessage()]
    assert len(warnings) == 1
