"""The lot registry as stored in Redis, so every hub process (and a restarted one) sees the same lots."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from redis.asyncio import Redis

from parking_hub.registry import Lot, check_devices_unclaimed, parse_feature
from parking_hub.store import keys
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
        pipe.set(keys.registry(lot.id), orjson.dumps(lot.to_feature()))
    pipe.sadd(keys.LOT_INDEX, *[lot.id for lot in lots])
    await pipe.execute()
    await redis.publish(keys.REGISTRY_CHANNEL, " ".join(lot.id for lot in lots))


async def load_lots(redis: RedisClient) -> list[Lot]:
    """Every lot in the registry, sorted by id."""
    members: set[bytes | str] = await redis.smembers(keys.LOT_INDEX)
    ids = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
    pipe = redis.pipeline(transaction=False)
    for lot_id in ids:
        pipe.get(keys.registry(lot_id))
    docs = await pipe.execute()
    return [parse_feature(orjson.loads(doc)) for doc in docs if doc is not None]
