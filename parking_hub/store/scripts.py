"""Lua scripts queued in pipelines, the same way on a standalone server and on a cluster.

On a standalone server redis-py's pipeline loads a script that the server lacks before it runs the
pipeline. On a cluster the pipeline is a NodePipeline, which does not: this loads each script on
every primary once, and when a node answers NOSCRIPT (a restarted primary, or a replica promoted:
scripts are not replicated) loads them on every primary again and resends just those calls.

A write pipeline may end with `durability.wait_command`: its replies are checked, and a write that
was not confirmed raises NotDurable.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any
from weakref import WeakKeyDictionary

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from parking_hub.config import AckAfter
from parking_hub.store import durability
from parking_hub.store.connection import RedisClient
from parking_hub.store.node_pipeline import NodePipeline


class ScriptRunner:
    """One per client (see `runner`), so each script is loaded once however many users it has."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.standalone = isinstance(redis, Redis)
        self._scripts: dict[str, AsyncScript] = {}  # by file name
        self._loaded = self.standalone

    def script(self, name: str) -> AsyncScript:
        """The script in `parking_hub/store/{name}`."""
        if name not in self._scripts:
            source = files("parking_hub.store").joinpath(name).read_text()
            self._scripts[name] = self.redis.register_script(source)
            self._loaded = self.standalone
        return self._scripts[name]

    def pipeline(self) -> Any:
        """A pipeline without MULTI: on a cluster it sends one batch to each node concerned."""
        if isinstance(self.redis, Redis):
            return self.redis.pipeline(transaction=False)
        return NodePipeline(self.redis)

    async def queue(self, pipe: Any, script: AsyncScript, keys: list[str], args: list[Any]) -> None:
        """Queue one script call; all its keys must share a slot on a cluster."""
        if self.standalone:
            await script(keys=keys, args=args, client=pipe)
        else:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    async def execute(self, pipe: Any, ack_after: AckAfter = AckAfter.WRITE) -> list[Any]:
        """The pipeline's replies; with `ack_after` beyond `write`, once its writes are confirmed."""
        wait = durability.wait_command(ack_after)
        if isinstance(pipe, NodePipeline):
            return await self._execute_on_nodes(pipe, ack_after, wait)
        if wait:
            pipe.execute_command(*wait)
        replies: list[Any] = await pipe.execute()
        if wait:
            durability.check(ack_after, {"primary": replies.pop()})
        return replies

    async def _execute_on_nodes(
        self, pipe: NodePipeline, ack_after: AckAfter, wait: tuple[Any, ...]
    ) -> list[Any]:
        await self._load_scripts()
        replies = await pipe.execute(raise_on_error=False, wait=wait)
        waits = pipe.waits
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            self._loaded = False
            await self._load_scripts()
            again = pipe.subset(missing)
            for i, reply in zip(missing, await again.execute(raise_on_error=False, wait=wait), strict=True):
                replies[i] = reply
            waits |= again.waits
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        if wait:
            durability.check(ack_after, waits)
        return replies

    async def _load_scripts(self) -> None:
        if self._loaded:
            return
        # Another task may register a script while these loads are awaited: it is loaded next time.
        scripts = list(self._scripts.values())
        for script in scripts:
            await self.redis.script_load(script.script)  # every primary
        self._loaded = len(scripts) == len(self._scripts)


_runners: WeakKeyDictionary[RedisClient, ScriptRunner] = WeakKeyDictionary()


def runner(redis: RedisClient) -> ScriptRunner:
    if redis not in _runners:
        _runners[redis] = ScriptRunner(redis)
    return _runners[redis]
