"""The Redis layout. Every per-lot key carries the hash tag {lot}, so a lot lives on one cluster slot."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

ROOT = "parking"
# City-wide sets and channels are split into this many shards, each under its own hash tag, so on a
# cluster they spread over the nodes instead of making one key (or channel) hot.
SHARDS = 16
REJECTED_UNATTRIBUTED = f"{ROOT}:rejected"  # counter: rejected events that name no known lot
CHANGES_CHANNEL = f"{ROOT}:changes"  # pub/sub: space-separated lot ids whose state moved
REGISTRY_CHANNEL = f"{ROOT}:registry"  # pub/sub: lot ids (re)loaded into the registry
INGEST_LAG = f"{ROOT}:ingest"  # hash: per ingest process (its MQTT client id), its latest lag report


def shard_of(lot: str) -> int:
    return zlib.crc32(lot.encode()) % SHARDS


def by_shard(lots: Iterable[str]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for lot in lots:
        grouped.setdefault(shard_of(lot), []).append(lot)
    return grouped


def lot_index(shard: int) -> str:
    """Set: the ids of the registry's lots in this shard."""
    return f"{ROOT}:lots:{{{shard}}}"


def changes_shard(shard: int) -> str:
    """Sharded pub/sub channel, on a cluster: CHANGES_CHANNEL's notices for the lots of one shard."""
    return f"{CHANGES_CHANNEL}:{{{shard}}}"


LOT_KEYS = f"{ROOT}:{{*}}:*"  # SCAN pattern: every key that belongs to one lot


def lot_of_key(key: str) -> str:
    """The lot whose hash tag a key of LOT_KEYS carries."""
    return key.partition("{")[2].partition("}")[0]


def occupancy(lot: str) -> str:
    """Bitmap: bit i is 1 while berth i is occupied (the contract's key)."""
    return f"{ROOT}:{{{lot}}}:occ"


def reports(lot: str) -> str:
    """Signed 64-bit big-endian field per berth: the winning report's rank, ts * 2 + occupied; 0 = never."""
    return f"{ROOT}:{{{lot}}}:rep"


def meta(lot: str) -> str:
    """Hash: applied / rejected event counters, gateway status rank, gap counter, write token."""
    return f"{ROOT}:{{{lot}}}:meta"


def gap_hours(lot: str) -> str:
    """Hash: hour since the epoch -> gaps found in the lot's senders' counters then (see gap_log)."""
    return f"{ROOT}:{{{lot}}}:gaps"


def history(lot: str, ring: str) -> str:
    """String: one ring of the lot's counts over event time, `h5` or `h15` (see history)."""
    return f"{ROOT}:{{{lot}}}:{ring}"


def registry(lot: str) -> str:
    """String: the lot's registry Feature as JSON."""
    return f"{ROOT}:{{{lot}}}:lot"
