"""Reconnect delays: exponential with full jitter, capped."""

from __future__ import annotations

import random


def full_jitter(attempt: int, base: float = 0.1, cap: float = 10.0) -> float:
    """A random delay in [0, min(cap, base * 2**attempt)]: spreads reconnect storms out."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 30)))
