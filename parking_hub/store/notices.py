"""Notices to API processes: the lots whose state moved, and registry loads.

On a standalone server they go by plain pub/sub on `parking:changes` and `parking:registry`. On a
cluster a plain PUBLISH is broadcast to every node, so its cost grows with the cluster; there they
go by sharded pub/sub (SPUBLISH, Redis 7 and later), which a message crosses only to the node that
owns its channel's slot: lot changes over `redis_keys.SHARDS` channels `parking:changes:{n}` (spread over
the nodes by their hash tags), registry loads on `parking:registry`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from parking_hub.store import redis_keys
from parking_hub.store.connection import RedisClient

POLL_S = 0.05  # a cluster subscription polls its nodes in turn; a notice waits at most this per node


def change_channels(*, cluster: bool) -> list[str]:
    if not cluster:
        return [redis_keys.CHANGES_CHANNEL]
    return [redis_keys.changes_shard(n) for n in range(redis_keys.SHARDS)]


def queue_changes(pipe: Any, lots: Iterable[str], *, cluster: bool) -> None:
    """Queue on a pipeline the notice that these lots' state moved (space-separated ids)."""
    lots = list(lots)
    if not lots:
        return
    if not cluster:
        pipe.publish(redis_keys.CHANGES_CHANNEL, " ".join(lots))
        return
    for shard, ids in redis_keys.by_shard(lots).items():
        pipe.spublish(redis_keys.changes_shard(shard), " ".join(ids))


async def publish_registry(redis: RedisClient, lots: Iterable[str]) -> None:
    ids = " ".join(lots)
    if isinstance(redis, Redis):
        await redis.publish(redis_keys.REGISTRY_CHANNEL, ids)
    else:
        await redis.spublish(redis_keys.REGISTRY_CHANNEL, ids)


@dataclass(frozen=True, slots=True)
class Notice:
    registry: bool  # a registry load; else the lots' state moved
    lots: list[str]


@asynccontextmanager
async def subscribe(redis: RedisClient, *, changes: bool) -> AsyncIterator[AsyncIterator[Notice]]:
    """Subscribed on entry to registry loads, and with `changes` to lot changes too; yields the
    notices as they come. A lost connection raises one of REDIS_ERRORS."""
    cluster = not isinstance(redis, Redis)
    if cluster:
        await redis.initialize()  # a cluster client learns the slots on its first command; this is one
    channels = [*(change_channels(cluster=cluster) if changes else ()), redis_keys.REGISTRY_CHANNEL]
    async with redis.pubsub() as pubsub:
        if cluster:
            await pubsub.ssubscribe(*channels)
        else:
            await pubsub.subscribe(*channels)
        yield _notices(pubsub, cluster=cluster)


async def _notices(pubsub: Any, *, cluster: bool) -> AsyncIterator[Notice]:
    registry = redis_keys.REGISTRY_CHANNEL.encode()
    while True:
        if cluster:
            message = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=POLL_S)
        else:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
        if message is None or message["type"] not in {"message", "smessage"}:
            continue
        yield Notice(message["channel"] == registry, message["data"].decode().split())
