"""The lot registry as stored in Redis, so every hub process (and a restarted one) sees the same lots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
from redis.asyncio import Redis

from parking_hub.registry import Lot, check_devices_unclaimed, parse_feature
from parking_hub.store import notices, redis_keys
from parking_hub.store.connection import RedisClient


async def save_lots(redis: RedisClient, lots: Sequence[Lot], source: str = "<registry>") -> None:
    """Write one validated file's lots, then tell running hubs to reload them. A device already
    bound to a lot of another file rejects the whole file (RegistryError).

    On a standalone server the file goes in as one MULTI/EXEC transaction; on a cluster the keys
    span slots, so a failed write is mended by loading the same file again (loading is idempotent).
    """
    if not lots:
        return
    if any(lot.devices for lot in lots):
        check_devices_unclaimed(lots, await load_lots(redis), source)
    pipe = redis.pipeline(transaction=isinstance(redis, Redis))
    for lot in lots:
        pipe.set(redis_keys.registry(lot.id), orjson.dumps(lot.to_feature()))
    for shard, ids in redis_keys.by_shard(lot.id for lot in lots).items():
        pipe.sadd(redis_keys.lot_index(shard), *ids)
    await pipe.execute()
    await notices.publish_registry(redis, (lot.id for lot in lots))


async def load_lots(redis: RedisClient) -> list[Lot]:
    """Every lot in the registry, sorted by id."""
    pipe = redis.pipeline(transaction=False)
    for shard in range(redis_keys.SHARDS):
        pipe.smembers(redis_keys.lot_index(shard))
    shards: list[set[bytes]] = await pipe.execute()
    ids = sorted(m.decode() for members in shards for m in members)
    pipe = redis.pipeline(transaction=False)
    for lot_id in ids:
        pipe.get(redis_keys.registry(lot_id))
    docs = await pipe.execute()
    return [parse_feature(orjson.loads(doc)) for doc in docs if doc is not None]


async def remove_lots(redis: RedisClient, ids: Iterable[str]) -> list[str]:
    """Delete lots: their registry entries and index entries, then every key under their hash tags
    (state, counters), and tell running hubs, which drop the lots and their devices on reload.
    Returns the ids that were in the registry; keys left by an id that was not are deleted too.

    An event applied by a hub that has not reloaded yet may write a key again after the scan; that
    key is read by nothing, and removing the same id again deletes it.
    """
    ids = sorted(set(ids))
    if not ids:
        return []
    # EXISTS, DEL and UNLINK go by name: a cluster pipeline runs its helpers for them at once,
    # outside the pipeline, instead of queueing them.
    pipe = redis.pipeline(transaction=False)
    for lot_id in ids:
        pipe.execute_command("EXISTS", redis_keys.registry(lot_id))
    registered = [lot_id for lot_id, found in zip(ids, await pipe.execute(), strict=True) if found]
    pipe = redis.pipeline(transaction=isinstance(redis, Redis))
    for shard, group in redis_keys.by_shard(ids).items():
        pipe.srem(redis_keys.lot_index(shard), *group)
    for lot_id in ids:
        pipe.execute_command("DEL", redis_keys.registry(lot_id))
    await pipe.execute()
    if registered:
        await notices.publish_registry(redis, registered)
    wanted = set(ids)
    pipe = redis.pipeline(transaction=False)
    async for key in redis.scan_iter(match=redis_keys.LOT_KEYS, count=1000):
        if redis_keys.lot_of_key(key.decode()) in wanted:
            pipe.execute_command("UNLINK", key)
    await pipe.execute()
    return registered


async def prune_lots(redis: RedisClient, listed: Sequence[Lot]) -> list[str]:
    """Remove the lots of the listed lots' operators that the listing no longer holds."""
    operators = {lot.operator for lot in listed}
    kept = {lot.id for lot in listed}
    stale = [lot.id for lot in await load_lots(redis) if lot.operator in operators and lot.id not in kept]
    return await remove_lots(redis, stale)
