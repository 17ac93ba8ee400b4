"""Token buckets, one per client (an API key, or an address when keys are off), in bounded memory.

A bucket holds up to `burst` tokens and gains `rate` tokens a second; a request takes one. A full
bucket is the same as no bucket, so when the table reaches its limit the bucket used longest ago
is dropped: that client starts again with a full bucket, the most it could have regained anyway
if it has been idle for burst / rate seconds.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from parking_hub.config import RateLimit

MAX_BUCKETS = 100_000


class TokenBuckets:
    def __init__(
        self,
        limit: RateLimit,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.max_buckets = max_buckets
        self.clock = clock
        # client -> (tokens, time of the last update); oldest use first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> int:
        """Takes a token for `client`: 0 when it may go on, else whole seconds until it may."""
        now = self.clock()
        tokens, then = self._buckets.pop(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - then) * self.limit.rate)
        wait = 0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = max(1, math.ceil((1.0 - tokens) / self.limit.rate))
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return wait
