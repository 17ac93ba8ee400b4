"""BulkHistogram exposes exactly what prometheus_client's own Histogram does for the same values."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from parking_hub.bulk_histogram import BulkHistogram

BUCKETS = (0.01, 0.5, 1.0, 60.0)


def exposition(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")]


def test_matches_prometheus_clients_histogram_value_by_value() -> None:
    values = np.array([0.0, 0.01, 0.010001, 0.3, 0.5, 1.0, 59.9, 60.0, 61.0, 1e6, -2.0])
    bulk_registry, reference_registry = CollectorRegistry(), CollectorRegistry()
    bulk = BulkHistogram("age_seconds", "ages", BUCKETS, bulk_registry)
    reference = Histogram("age_seconds", "ages", buckets=BUCKETS, registry=reference_registry)
    bulk.observe_many(values[:4])
    bulk.observe_many(values[4:])
    bulk.observe_many(np.zeros(0))
    for value in values:
        reference.observe(float(value))
    # The reference also exposes a _created sample, which the bulk histogram does not keep.
    assert exposition(bulk_registry) == [
        line for line in exposition(reference_registry) if not line.startswith("age_seconds_created")
    ]


def test_buckets_must_ascend() -> None:
    with pytest.raises(ValueError, match="ascending"):
        BulkHistogram("h", "h", (1.0, 0.5), CollectorRegistry())
