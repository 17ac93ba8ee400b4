"""Process health (for /readyz) and Prometheus metrics (for /metrics), one registry per hub."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from parking_hub.bulk_histogram import BulkHistogram
from parking_hub.rank import ts_of
from parking_hub.store.apply import Batch

MAX_INGEST_LAG_S = 5.0


@dataclass(slots=True)
class Health:
    """What /readyz reports. Each part that a role does not run stays None and is not checked."""

    mqtt_connected: bool | None = None
    redis_ok: bool | None = None
    index_loaded: bool | None = None
    # Monotonic time of the oldest message offered to ingest (by the broker, or held in the hub) and
    # not yet applied; None while ingest is not connected.
    ingest_oldest_offered: Callable[[], float | None] | None = None

    def ingest_lag_s(self) -> float:
        oldest = None if self.ingest_oldest_offered is None else self.ingest_oldest_offered()
        return 0.0 if oldest is None else time.monotonic() - oldest

    def problems(self) -> list[str]:
        reasons = []
        lag = self.ingest_lag_s()
        if lag > MAX_INGEST_LAG_S:
            reasons.append(f"ingest lags: the oldest message offered to it has waited {lag:.1f} s")
        if self.redis_ok is False:
            reasons.append("redis is not reachable")
        if self.mqtt_connected is False:
            reasons.append("mqtt broker is not connected")
        if self.index_loaded is False:
            reasons.append("the lot index has not been loaded from redis yet")
        return reasons


class Metrics:
    """This process's figures; the city-wide totals live in Redis and /v1/summary."""

    def __init__(self, health: Health) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "parking_hub_ingest_events",
            "Valid events through the order rule, by result: won (changed the berth) or stale "
            "(not newer than the stored report: duplicates, replays, late arrivals)",
            ["result"],
            registry=r,
        )
        self.rejected = Counter(
            "parking_hub_ingest_rejected_events", "Rejected events, by reason code", ["code"], registry=r
        )
        self.error_reports_dropped = Counter(
            "parking_hub_ingest_error_reports_dropped",
            "Error reports not published, by reason: backlog_full, or publish_failed (the broker did "
            "not acknowledge in time, or the connection dropped); the rejected events are still counted",
            ["reason"],
            registry=r,
        )
        self.seq_gaps = Counter(
            "parking_hub_ingest_seq_gaps",
            "Batch frames whose seq skipped numbers: frames lost between a gateway and the hub; each "
            "is answered with a resync request",
            registry=r,
        )
        self.fcnt_gaps = Counter(
            "parking_hub_ingest_fcnt_gaps",
            "LoRaWAN uplinks whose f_cnt skipped numbers: uplinks lost between a device and the hub",
            registry=r,
        )
        self.broker_dropped = Gauge(
            "parking_hub_broker_dropped_messages",
            "Messages the MQTT broker says it dropped, for all its clients, since it started "
            "(Mosquitto's $SYS/broker/publish/messages/dropped; 0 where the broker does not say)",
            registry=r,
        )
        self.batches = Counter("parking_hub_ingest_batches", "Batches written to Redis", registry=r)
        self.batch_events = Histogram(
            "parking_hub_ingest_batch_events",
            "Valid events per batch",
            buckets=(1, 10, 100, 1_000, 10_000, 50_000, 100_000, 200_000),
            registry=r,
        )
        self.write_latency = Histogram(
            "parking_hub_ingest_write_seconds",
            "From a batch's first message received to the batch written (the hub's share of freshness)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
            registry=r,
        )
        self.freshness = BulkHistogram(
            "parking_hub_ingest_report_age_seconds",
            "Age of each berth report when its batch was written: the write's time minus the report's "
            "ts (the sensor's observation time), so it includes the sensor's, gateway's and broker's "
            "delays and any clock skew; one report per berth and batch (the greatest)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
            registry=r,
        )
        lag = Gauge(
            "parking_hub_ingest_lag_seconds",
            "How far ingest is behind the traffic it has been sent: the age of the oldest message "
            "offered to it (by the broker or its own buffers) and not yet applied",
            registry=r,
        )
        lag.set_function(health.ingest_lag_s)
        if health.mqtt_connected is not None:  # only roles that ingest have an MQTT session
            mqtt = Gauge("parking_hub_mqtt_connected", "1 while the MQTT session is up", registry=r)
            mqtt.set_function(lambda: float(health.mqtt_connected is True))
        redis = Gauge("parking_hub_redis_connected", "1 while Redis answers", registry=r)
        redis.set_function(lambda: float(health.redis_ok is True))

    def forecasts(self, ready: Callable[[], bool]) -> None:
        """Roles that answer /v1: whether the forecasts at arrival are built for the registry loaded."""
        gauge = Gauge(
            "parking_hub_forecast_ready",
            "1 once this process has fitted every lot's forecast model and built the city's forecasts "
            "for the registry loaded; until then eta_s answers by persistence",
            registry=self.registry,
        )
        gauge.set_function(lambda: float(ready()))

    def record(self, batch: Batch, won: int, latency_s: float, written_at_ms: int) -> None:
        self.batches.inc()
        self.batch_events.observe(batch.events)
        self.events.labels("won").inc(won)
        self.events.labels("stale").inc(batch.events - won)
        self.write_latency.observe(latency_s)
        self.freshness.observe_many((written_at_ms - ts_of(batch.ranks)) / 1000.0)
