"""The Redis layout. Every per-lot key carries the hash tag {lot}, so a lot lives on one cluster slot."""

from __future__ import annotations

ROOT = "parking"
LOT_INDEX = f"{ROOT}:lots"  # set of lot ids
REJECTED_UNATTRIBUTED = f"{ROOT}:rejected"  # counter: rejected events that name no known lot
CHANGES_CHANNEL = f"{ROOT}:changes"  # pub/sub: space-separated lot ids whose state moved
REGISTRY_CHANNEL = f"{ROOT}:registry"  # pub/sub: lot ids (re)loaded into the registry


def occupancy(lot: str) -> str:
    """Bitmap: bit i is 1 while berth i is occupied (the contract's key)."""
    return f"{ROOT}:{{{lot}}}:occ"


def reports(lot: str) -> str:
    """Signed 64-bit big-endian field per berth: the winning report's rank, ts * 2 + occupied; 0 = never."""
    return f"{ROOT}:{{{lot}}}:rep"


def meta(lot: str) -> str:
    """Hash: applied / rejected event counters and the gateway status rank."""
    return f"{ROOT}:{{{lot}}}:meta"


def registry(lot: str) -> str:
    """String: the lot's registry Feature as JSON."""
    return f"{ROOT}:{{{lot}}}:lot"
