"""Process health and ingest counters, shared by the ingest loop and the HTTP endpoints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from parking_hub.store.apply import Batch


@dataclass(slots=True)
class Health:
    """What /readyz reports. Each part that a role does not run stays None and is not checked."""

    mqtt_connected: bool | None = None
    redis_ok: bool | None = None
    index_loaded: bool | None = None

    def problems(self) -> list[str]:
        reasons = []
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
