"""Process health and ingest counters, shared by the ingest loop and the HTTP endpoints."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from parking_hub.store.apply import Batch

MAX_INGEST_LAG_S = 5.0


@dataclass(slots=True)
class Health:
    """What /readyz reports. Each part that a role does not run stays None and is not checked."""

    mqtt_connected: bool | None = None
    redis_ok: bool | None = None
    index_loaded: bool | None = None
    ingest_oldest_unwritten: float | None = None  # monotonic time of the oldest message not yet in Redis
    last_write_latency_s: float = 0.0  # first message received to batch written, for the last batch

    def ingest_lag_s(self) -> float:
        oldest = self.ingest_oldest_unwritten
        return 0.0 if oldest is None else time.monotonic() - oldest

    def problems(self) -> list[str]:
        reasons = []
        lag = self.ingest_lag_s()
        if lag > MAX_INGEST_LAG_S:
            reasons.append(f"ingest lags: a received message has waited {lag:.1f} s for Redis")
        if self.redis_ok is False:
            reasons.append("redis is not reachable")
        if self.mqtt_connected is False:
            reasons.append("mqtt broker is not connected")
        if self.index_loaded is False:
            reasons.append("the lot index has not been loaded from redis yet")
        return reasons


@dataclass(slots=True)
class IngestCounters:
    """This process's own ingest figures; the city-wide totals live in Redis."""

    batches: int = 0
    events_applied: int = 0
    reports_won: int = 0
    rejected_by_code: Counter[str] = field(default_factory=Counter)
    error_reports_dropped: int = 0

    def record(self, batch: Batch, won: int) -> None:
        self.batches += 1
        self.events_applied += batch.events
        self.reports_won += won

    def rejected(self, code: str, count: int) -> None:
        self.rejected_by_code[code] += count
