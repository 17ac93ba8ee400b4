"""Redis clients for a standalone server or a cluster, chosen by the URL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from parking_hub.config import RedisTarget

RedisClient: TypeAlias = "Redis | RedisCluster"

# What an unreachable or failing server raises: redis-py's errors, the cluster client's own that are
# not RedisError (no node reachable at start, a slot not covered yet), and the socket's.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)

# No retries inside redis-py, whose retry can hide a cancel: every caller retries through
# `backoff.retry` (docs/reliability.md, "Cancellations the libraries lose").
_NO_RETRY = Retry(NoBackoff(), retries=0)


def why_unreachable(exc: Exception) -> str:
    """The system's reason for a failed connection ("connection refused"), else the error's text."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return str(exc)


def sentinel_for(target: RedisTarget) -> Sentinel:
    """The Sentinels of a `redis+sentinel://` URL; the URL's credentials are the data nodes', and TLS
    (`rediss+sentinel://`) applies to the Sentinels and the data nodes alike."""
    parts = urlsplit(target.url)
    tls = parts.scheme == "rediss+sentinel"
    data: dict[str, Any] = {"db": target.db, "ssl": tls, "socket_connect_timeout": 5}
    if parts.username:
        data["username"] = unquote(parts.username)
    if parts.password:
        data["password"] = unquote(parts.password)
    return Sentinel(
        target.sentinels,
        sentinel_kwargs={"ssl": tls, "socket_connect_timeout": 5, "socket_timeout": 5, "retry": _NO_RETRY},
        **data,
    )


def client_for(target: RedisTarget, sentinel: Sentinel | None = None) -> RedisClient:
    """A client for the URL's server, cluster, or (through `sentinel_for`'s Sentinels) primary; it
    connects on its first command, and under Sentinel asks for the primary again on each new connection.
    Without `sentinel`, the Sentinel clients it makes close when collected; `connect` closes them."""
    if target.is_sentinel:
        sentinel = sentinel or sentinel_for(target)
        client: Redis = sentinel.master_for(target.service, retry=_NO_RETRY, health_check_interval=10)
        return client
    if target.is_cluster:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.cluster_nodes],
            retry=_NO_RETRY,
            health_check_interval=10,
        )
    return Redis.from_url(
        target.url,
        retry=_NO_RETRY,
        health_check_interval=10,
        socket_connect_timeout=5,
    )


@asynccontextmanager
async def connect(target: RedisTarget) -> AsyncIterator[RedisClient]:
    """A client; closed with its pool (and its Sentinel clients) on exit."""
    sentinel = sentinel_for(target) if target.is_sentinel else None
    client = client_for(target, sentinel)
    try:
        yield client
    finally:
        await client.aclose()
        if sentinel is not None:
            await sentinel.aclose()
