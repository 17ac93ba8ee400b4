"""Every ingest process's lag in one hash: ingest writes its own field, the API reads them all.

A field is `{"lag_s": ..., "at_ms": ...}` under the process's MQTT client id. A field not rewritten
within STALE_AFTER_MS belongs to a process that has stopped: readers skip it and writers delete it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from parking_hub.store import redis_keys
from parking_hub.store.connection import RedisClient

STALE_AFTER_MS = 5_000  # processes report every second: five missed reports mean it is gone


@dataclass(frozen=True, slots=True)
class CityLag:
    processes: int = 0  # ingest processes reporting
    lag_s: float | None = None  # the greatest lag among them; None when none reports


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _fresh_lag(report: bytes | str, now_ms: int) -> float | None:
    """The lag a field holds, or None when it is stale or not a report."""
    try:
        fields = orjson.loads(report)
        lag_s, at_ms = float(fields["lag_s"]), int(fields["at_ms"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return lag_s if now_ms - at_ms <= STALE_AFTER_MS else None


def city_lag(reports: Iterable[bytes | str], now_ms: int) -> CityLag:
    lags = [lag for report in reports if (lag := _fresh_lag(report, now_ms)) is not None]
    return CityLag(len(lags), max(lags, default=None))


async def read(redis: RedisClient) -> CityLag:
    return city_lag((await redis.hgetall(redis_keys.INGEST_LAG)).values(), _now_ms())


async def write(redis: RedisClient, client_id: str, lag_s: float) -> None:
    """Store this process's report, and delete the reports of processes that have stopped."""
    now_ms = _now_ms()
    pipe = redis.pipeline(transaction=False)
    pipe.hset(redis_keys.INGEST_LAG, client_id, orjson.dumps({"lag_s": round(lag_s, 3), "at_ms": now_ms}))
    pipe.hgetall(redis_keys.INGEST_LAG)
    _, reports = await pipe.execute()
    # A process that comes back between the read and the delete loses one report, no more: it
    # writes again within a second.
    gone = [client for client, report in reports.items() if _fresh_lag(report, now_ms) is None]
    if gone:
        await redis.hdel(redis_keys.INGEST_LAG, *gone)
