"""When a write counts as done, before its messages are acknowledged to the broker (`--ack-after`).

`replica` ends each write pipeline with `WAIT 1`, `fsync` with `WAITAOF 1 0`, on the connection that
carried the writes (on a cluster, on each node's), so the reply covers every write of the batch that
went before it. A reply that falls short within WAIT_TIMEOUT_MS raises NotDurable, a Redis error like
any other: the batch is written again and nothing is acknowledged until it is confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError, ResponseError

from parking_hub.config import AckAfter, SettingError

WAIT_TIMEOUT_MS = 1000


class NotDurable(RedisError):
    """The write landed on the primary but was not confirmed by a replica or an fsync in time."""


def wait_command(ack_after: AckAfter) -> tuple[Any, ...]:
    """The command that ends a write pipeline; none for `write`."""
    if ack_after is AckAfter.REPLICA:
        return ("WAIT", 1, WAIT_TIMEOUT_MS)
    if ack_after is AckAfter.FSYNC:
        return ("WAITAOF", 1, 0, WAIT_TIMEOUT_MS)
    return ()


def check(ack_after: AckAfter, replies: Mapping[str, Any]) -> None:
    """Raise NotDurable unless every node's reply to `wait_command` confirms the writes before it."""
    for node, reply in replies.items():
        if isinstance(reply, Exception):
            raise reply
        confirmed = int(reply) if ack_after is AckAfter.REPLICA else int(reply[0])
        if confirmed < 1:
            what = "no replica acknowledged" if ack_after is AckAfter.REPLICA else "the AOF was not fsynced"
            raise NotDurable(f"{node}: {what} the writes within {WAIT_TIMEOUT_MS} ms")


async def check_server(redis: Redis | RedisCluster, ack_after: AckAfter) -> None:
    """Raise SettingError when `fsync` is asked of a server without WAITAOF (before Redis 7.2 and
    Valkey 8) or without an append-only file; on a cluster, every primary is asked."""
    if ack_after is not AckAfter.FSYNC:
        return
    try:
        if isinstance(redis, RedisCluster):
            await redis.execute_command("WAITAOF", 1, 0, WAIT_TIMEOUT_MS, target_nodes=RedisCluster.PRIMARIES)
        else:
            await redis.execute_command("WAITAOF", 1, 0, WAIT_TIMEOUT_MS)  # type: ignore[no-untyped-call]
    except ResponseError as exc:
        text = str(exc).lower()
        if "unknown command" in text:
            reason = "fsync needs WAITAOF, which this server lacks (Redis 7.2 or later, Valkey 8 or later)"
        elif "appendonly" in text:
            reason = "fsync needs the server's append-only file (appendonly yes), which is off"
        else:
            raise
        raise SettingError("ack-after", reason) from None
