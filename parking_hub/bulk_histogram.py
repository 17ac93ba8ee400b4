"""A Prometheus histogram fed a whole numpy array at a time, for figures taken per event.

prometheus_client's Histogram observes one value per call: a Python call per event on the ingest
path. This one counts a batch's values into its buckets with one numpy pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString


class BulkHistogram(Collector):
    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        if list(buckets) != sorted(set(buckets)):
            raise ValueError("buckets must be distinct and ascending")
        self._name = name
        self._documentation = documentation
        self._bounds = np.asarray(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # the last is +Inf
        self._sum = 0.0
        registry.register(self)

    def observe_many(self, values: npt.NDArray[np.float64]) -> None:
        # side="left": a value equal to a bound falls in that bound's bucket (le is "less or equal").
        slots = np.searchsorted(self._bounds, values, side="left")
        self._counts += np.bincount(slots, minlength=len(self._counts))
        self._sum += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative = np.cumsum(self._counts)
        labels = [floatToGoString(b) for b in self._bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        yield HistogramMetricFamily(
            self._name,
            self._documentation,
            buckets=[(le, float(n)) for le, n in zip(labels, cumulative, strict=True)],
            sum_value=self._sum,
        )

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self._name, self._documentation)
