"""`parking-hub lots load`: validate each file whole, then load it; one line of outcome per file."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from redis.exceptions import RedisError

from parking_hub.config import RedisTarget
from parking_hub.registry import RegistryError, read_registry
from parking_hub.store.connection import connect
from parking_hub.store.lots import save_lots

EXIT_INVALID_FILE = 1
EXIT_REDIS_DOWN = 3


async def load_files(target: RedisTarget, files: Sequence[Path]) -> None:
    """Loads every valid file; an invalid file loads nothing and makes the exit code 1."""
    failed = False
    async with connect(target) as redis:
        for path in files:
            try:
                lots = read_registry(path)
                await save_lots(redis, lots, str(path))
            except RegistryError as exc:
                print(f"parking-hub: invalid registry, nothing loaded: {exc}", file=sys.stderr)
                failed = True
                continue
            except (RedisError, OSError) as exc:
                print(
                    f"parking-hub: cannot write to Redis at {target!r} ({exc}); "
                    "start Redis or point --redis-url at it",
                    file=sys.stderr,
                )
                sys.exit(EXIT_REDIS_DOWN)
            berths = sum(lot.capacity for lot in lots)
            print(f"{path}: loaded {len(lots)} lots, {berths} berths")
    if failed:
        sys.exit(EXIT_INVALID_FILE)
