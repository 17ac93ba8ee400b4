"""Lua scripts queued in pipelines, the same way on a standalone server and on a cluster.

On a standalone server redis-py's pipeline loads a script that the server lacks before it runs the
pipeline. A cluster pipeline does not, so this loads each script on every primary once, and again
after a node answers NOSCRIPT (a restarted or new primary); that failed round trip raises, and the
caller retries it as it retries any Redis error.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any
from weakref import WeakKeyDictionary

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from parking_hub.store.connection import RedisClient


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
        return self.redis.pipeline(transaction=False)

    async def queue(self, pipe: Any, script: AsyncScript, keys: list[str], args: list[Any]) -> None:
        """Queue one script call; all its keys must share a slot on a cluster."""
        if self.standalone:
            await script(keys=keys, args=args, client=pipe)
        else:
            # redis-py's cluster pipeline blocks its evalsha method (it would not load a missing
            # script); the command itself routes by its keys, and `execute` loads the scripts.
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    async def execute(self, pipe: Any) -> list[Any]:
        if not self._loaded:
            # Another task may register a script while these loads are awaited: it is loaded next time.
            scripts = list(self._scripts.values())
            for script in scripts:
                await self.redis.script_load(script.script)  # every primary, on a cluster
            self._loaded = len(scripts) == len(self._scripts)
        try:
            replies: list[Any] = await pipe.execute()
        except NoScriptError:
            self._loaded = False
            raise
        return replies


_runners: WeakKeyDictionary[RedisClient, ScriptRunner] = WeakKeyDictionary()


def runner(redis: RedisClient) -> ScriptRunner:
    if redis not in _runners:
        _runners[redis] = ScriptRunner(redis)
    return _runners[redis]
