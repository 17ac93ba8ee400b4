"""A cluster pipeline that routes by slot arithmetic: one round trip per primary, no per-command routing.

redis-py's cluster pipeline resolves each queued command's routing policy and node in Python, which
costs more than the command itself when a batch holds one script call per lot. Every command this
project pipelines on a cluster names its key (or sharded channel) first, so this one computes the
slot from that argument, groups the commands by the node that owns the slot, and sends each group
on one of the client's own node connections, all nodes at once. Redirections are followed here:
MOVED refreshes the slot map and resends, ASK resends with ASKING to the importing node, TRYAGAIN
(a slot half-migrated) resends after a pause. A node that cannot be reached raises, and the next
pipeline re-reads the slot map first, so a promoted replica is found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from weakref import WeakSet

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode, PipelineCommand
from redis.commands.core import BasicKeyCommands, HashCommands, PubSubCommands
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ConnectionError,
    MovedError,
    RedisClusterException,
    TimeoutError,
    TryAgainError,
)

MAX_REDIRECTS = 5  # rounds of MOVED / ASK / TRYAGAIN before the pipeline gives up and raises
TRY_AGAIN_S = 0.05
_KEY_AT = {b"EVALSHA": 3, b"EVAL": 3}  # where the first key is; any other command has it first


_Todo = list[tuple[int, tuple[str, int] | None]]  # (queue position, the ASK target or None)
_ByNode = dict[str, tuple[ClusterNode, list[PipelineCommand]]]
_stale: WeakSet[RedisCluster] = WeakSet()  # clients whose slot map must be read before their next pipeline


class NodePipeline(BasicKeyCommands, HashCommands, PubSubCommands):
    """Queue keyed commands (by name or through the command methods), then `execute` them.

    `wait` names a command (WAIT or WAITAOF, as args) to send to every node after its commands;
    its replies come back from `execute` in `waits`, by node name.
    """

    _event_dispatcher: Any = None  # the command methods' protocol names it; none of them uses it

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._commands: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.waits: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._commands)

    def execute_command(self, *args: Any, **options: Any) -> NodePipeline:
        self._commands.append((args, options))
        return self

    def subset(self, positions: Sequence[int]) -> NodePipeline:
        """A new pipeline of the commands at these queue positions, to send them again."""
        pipe = NodePipeline(self._cluster)
        pipe._commands = [self._commands[i] for i in positions]
        return pipe

    async def execute(self, *, raise_on_error: bool = True, wait: Sequence[Any] = ()) -> list[Any]:
        """The replies in queue order; with `raise_on_error` off, a failed command's error in its place."""
        cluster = self._cluster
        if cluster in _stale:
            await cluster.nodes_manager.initialize()
            _stale.discard(cluster)
        elif not cluster.nodes_manager.slots_cache:
            await cluster.initialize()
        results: list[Any] = [None] * len(self._commands)
        todo: _Todo = [(i, None) for i in range(len(self._commands))]
        self.waits = {}
        redirected: list[Exception] = []
        for _ in range(MAX_REDIRECTS):
            by_node = self._route(todo)
            if wait:
                for _node, commands in by_node.values():
                    commands.append(PipelineCommand(-1, *wait))
            todo, redirected = await self._send(by_node, results)
            if not todo:
                break
            if any(isinstance(e, MovedError) for e in redirected):
                await cluster.nodes_manager.initialize()
            elif any(isinstance(e, TryAgainError) for e in redirected):  # a migration moves the slot's keys
                await asyncio.sleep(TRY_AGAIN_S)
        else:
            raise RedisClusterException(f"still redirected after {MAX_REDIRECTS} rounds: {redirected[0]}")
        if raise_on_error:
            for result in results:
                if isinstance(result, Exception):
                    raise result
        return results

    def _route(self, todo: _Todo) -> _ByNode:
        cluster = self._cluster
        by_node: _ByNode = {}
        for i, ask in todo:
            args, options = self._commands[i]
            if ask is None:
                node = cluster.nodes_manager.get_node_from_slot(key_slot(_encoded(_routing_arg(args))))
            else:
                found = cluster.get_node(host=ask[0], port=ask[1])
                if found is None:
                    raise RedisClusterException(f"ASK names node {ask[0]}:{ask[1]}, not in the slot map")
                node = found
            entry = by_node.get(node.name)
            if entry is None:
                entry = by_node[node.name] = (node, [])
            if ask is not None:
                entry[1].append(PipelineCommand(-1, "ASKING"))
            entry[1].append(PipelineCommand(i, *args, **options))
        return by_node

    async def _send(self, by_node: _ByNode, results: list[Any]) -> tuple[_Todo, list[Exception]]:
        """Each node's commands at once; returns what must be sent again, and the redirections."""
        nodes = list(by_node.values())
        sends = (node.execute_pipeline(commands) for node, commands in nodes)
        sent = await asyncio.gather(*sends, return_exceptions=True)
        for outcome in sent:
            if isinstance(outcome, BaseException):
                _stale.add(self._cluster)
                raise outcome
        again: _Todo = []
        redirected: list[Exception] = []
        for node, commands in nodes:
            for cmd in commands:
                result = cmd.result
                if cmd.position < 0:
                    if cmd.args[0] != "ASKING":
                        self.waits[node.name] = result
                elif isinstance(result, AskError) and not isinstance(result, MovedError):
                    again.append((cmd.position, (result.host, result.port)))
                    redirected.append(result)
                elif isinstance(result, (MovedError, TryAgainError)):
                    again.append((cmd.position, None))
                    redirected.append(result)
                else:
                    if isinstance(result, (ConnectionError, TimeoutError, OSError)):
                        _stale.add(self._cluster)
                    results[cmd.position] = result
        return again, redirected


def _routing_arg(args: tuple[Any, ...]) -> Any:
    name = _encoded(args[0]).upper()
    at = _KEY_AT.get(name, 1)
    if at >= len(args) or (at == 3 and int(args[2]) == 0):
        raise RedisClusterException(f"{name.decode()} has no key to route by in a node pipeline")
    return args[at]


def _encoded(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, memoryview):
        return value.tobytes()
    return str(value).encode()
