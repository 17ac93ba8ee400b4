"""Each ingest process's lag, as Redis holds it and /v1/summary reports it for the whole city."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from parking_hub.api.schemas import Summary
from parking_hub.store.connection import RedisClient
from tests.integration.hub import eventually, redis_client, running_hub, unique
from tests.integration.test_skeleton import now_ms

pytestmark = pytest.mark.integration

LAG_KEY = "parking:ingest"  # as the README documents it


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = redis_client(redis_url)
    yield client
    await client.aclose()


def report(lag_s: float, at_ms: int) -> bytes:
    return orjson.dumps({"lag_s": lag_s, "at_ms": at_ms})


async def test_a_running_hub_reports_its_lag_to_redis_and_the_summary(
    redis: RedisClient, redis_url: str, mqtt_url: str
) -> None:
    """An ingest process writes its lag under its client id; the API counts it in /v1/summary."""
    client_id = unique("hub")
    async with running_hub(redis_url, mqtt_url, client_id=client_id) as hub:
        stored = await eventually(lambda: redis.hget(LAG_KEY, client_id), lambda r: r is not None)
        assert stored is not None
        fields = orjson.loads(stored)
        assert fields["lag_s"] >= 0
        assert abs(fields["at_ms"] - now_ms()) < 5000
        status, body = await eventually(
            lambda: hub.get("/v1/summary"), lambda r: r[1].get("ingest_processes", 0) >= 1
        )
        assert status == 200
        Summary.model_validate(body)
        assert body["ingest_lag_s"] >= 0


async def test_a_stale_report_is_ignored_and_then_deleted(
    redis: RedisClient, redis_url: str, mqtt_url: str
) -> None:
    """A report not renewed for seconds is a stopped process: never counted, and pruned by ingest."""
    gone, slow = unique("gone"), unique("slow")
    await redis.hset(LAG_KEY, gone, report(999.0, now_ms() - 60_000))
    async with running_hub(redis_url, mqtt_url, role="api") as api:
        await redis.hset(LAG_KEY, slow, report(42.0, now_ms()))
        _, body = await eventually(lambda: api.get("/v1/summary"), lambda r: r[1].get("ingest_lag_s") == 42.0)
        assert body["ingest_lag_s"] == 42.0  # the live laggard, not the stale one's 999
    assert await redis.hexists(LAG_KEY, gone)  # the API only reads
    async with running_hub(redis_url, mqtt_url, role="ingest"):
        assert not await eventually(lambda: redis.hexists(LAG_KEY, gone), lambda present: not present)
