"""`parking-hub lots load` and `lots remove`: one line of outcome per file or lot, one per problem."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from parking_hub.config import RedisTarget
from parking_hub.registry import Lot, RegistryError, read_registry
from parking_hub.store.connection import REDIS_ERRORS, RedisClient, connect, why_unreachable
from parking_hub.store.lots import prune_lots, remove_lots, save_lots

EXIT_INVALID = 1
EXIT_REDIS_DOWN = 3


def _say(message: str) -> None:
    for line in message.splitlines():
        print(f"parking-hub: {line}", file=sys.stderr)


@asynccontextmanager
async def _redis(target: RedisTarget) -> AsyncIterator[RedisClient]:
    """A client; an unreachable Redis ends the command with one line saying what to do."""
    try:
        async with connect(target) as redis:
            yield redis
    except REDIS_ERRORS as exc:
        _say(
            f"cannot reach Redis at {target.shown} ({why_unreachable(exc)}); "
            "start Redis or point --redis-url (PARKING_HUB_REDIS_URL) at it"
        )
        sys.exit(EXIT_REDIS_DOWN)


async def load_files(target: RedisTarget, files: Sequence[Path], *, prune: bool = False) -> None:
    """Loads every valid file; an invalid file loads nothing and makes the exit code 1.

    With `prune`, the lots of the files' operators that none of the files lists are then removed;
    when any file was refused nothing is removed, since the listing is incomplete.
    """
    listed: list[Lot] = []
    failed = False
    async with _redis(target) as redis:
        for path in files:
            try:
                lots = read_registry(path)
                await save_lots(redis, lots, str(path))
            except RegistryError as exc:
                _say(f"invalid registry, nothing loaded from {path}:\n{exc}")
                failed = True
                continue
            listed += lots
            print(f"{path}: loaded {len(lots)} lots, {sum(lot.capacity for lot in lots)} berths")
        if prune and failed:
            _say("nothing pruned: a file was refused, so the listing of its lots is incomplete")
        elif prune:
            removed = await prune_lots(redis, listed)
            operators = ", ".join(sorted({lot.operator for lot in listed})) or "none"
            names = f": {' '.join(removed)}" if removed else ""
            print(f"pruned {len(removed)} lots of operator(s) {operators} no longer listed{names}")
    if failed:
        sys.exit(EXIT_INVALID)


async def remove(target: RedisTarget, ids: Sequence[str]) -> None:
    """Removes the lots; an id that is not in the registry makes the exit code 1."""
    async with _redis(target) as redis:
        removed = await remove_lots(redis, ids)
    for lot_id in ids:
        if lot_id in removed:
            print(f"removed lot {lot_id}")
        else:
            _say(f"no lot {lot_id!r} in the registry")
    if set(ids) - set(removed):
        sys.exit(EXIT_INVALID)
