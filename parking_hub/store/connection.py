"""Redis clients for a standalone server or a cluster, chosen by the URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from parking_hub.config import RedisTarget

RedisClient: TypeAlias = "Redis | RedisCluster"

# Commands retry on connection trouble with full-jitter exponential backoff (capped at 2 s);
# callers that must not lose work retry further themselves.
_RETRY = Retry(ExponentialWithJitterBackoff(base=0.05, cap=2.0), retries=5)
_RETRY_ON: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]


def raise_if_cancelling(exc: BaseException) -> None:
    """Re-raise a cancellation that redis-py turned into a Redis error.

    With the hiredis parser, cancelling a task mid-reply surfaces as ConnectionError ("Connection
    closed by server"); a retry loop that caught it would swallow the cancel and never shut down.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


@asynccontextmanager
async def connect(target: RedisTarget) -> AsyncIterator[RedisClient]:
    """A connected client; closed with its pool on exit."""
    client: Redis | RedisCluster
    if target.is_cluster:
        client = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.cluster_nodes],
            retry=_RETRY,
            retry_on_error=_RETRY_ON,
            health_check_interval=10,
        )
    else:
        client = Redis.from_url(
            target.url,
            retry=_RETRY,
            retry_on_error=_RETRY_ON,
            health_check_interval=10,
            socket_connect_timeout=5,
        )
    try:
        yield client
    finally:
        await client.aclose()
