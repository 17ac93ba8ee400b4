"""Every lot's forecast, precomputed, for questions about arrival (`eta_s` on /v1/nearest).

A query must not fit models: `CityOutlook.build` turns each lot's fitted model (forecast.LotModel)
into arrays at 15-minute steps from `as_of_s`: the profile ahead, the anomaly's decay and the error
quantiles. `at_arrival` then answers for any lots with a few numpy gathers: the expected free
berths at arrival (`forecast_free`) and the probability that at least `min_free` are free then
(`p_free`), read off the lot's empirical error quantiles. The curves cover SPAN_S past `as_of_s`
plus the longest horizon, so an outlook rebuilt every REBUILD_S stays valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parking_hub.arrays import BoolArray, Float32Array, FloatArray, IntArray
from parking_hub.query.forecast import LEVELS, STEP_S, STEPS, LotModel

REBUILD_S = 900
SPAN_STEPS = REBUILD_S // STEP_S + 1  # steps of `as_of_s` drift the curves allow for


@dataclass(frozen=True, slots=True)
class CityOutlook:
    as_of_s: float
    capacity: IntArray  # per lot
    modelled: BoolArray  # per lot: has a model; the others answer by persistence
    profile: Float32Array  # lots x (SPAN_STEPS + STEPS + 1): the profile at as_of_s + j steps
    phi: Float32Array  # lots x (STEPS + 1)
    errors: Float32Array  # lots x (STEPS + 1) x LEVELS

    @classmethod
    def build(cls, models: Sequence[LotModel | None], capacity: IntArray, as_of_s: float) -> CityOutlook:
        n, width = len(models), SPAN_STEPS + STEPS + 1
        # float32: 50,000 lots take about 40 MB.
        profile = np.zeros((n, width), dtype=np.float32)
        phi = np.zeros((n, STEPS + 1), dtype=np.float32)
        errors = np.zeros((n, STEPS + 1, len(LEVELS)), dtype=np.float32)
        modelled = np.zeros(n, dtype=bool)
        ahead = as_of_s + np.arange(width, dtype=np.float64) * STEP_S
        for i, model in enumerate(models):
            if model is not None:
                modelled[i] = True
                profile[i] = model.profile_at(ahead)
                phi[i], errors[i] = model.phi, model.errors
        return cls(as_of_s, capacity, modelled, profile, phi, errors)

    def at_arrival(
        self, positions: IntArray, free_now: FloatArray, now_s: float, eta_s: float, min_free: int
    ) -> tuple[FloatArray, FloatArray]:
        """Expected free berths at arrival and P(at least min_free free then), for these lots."""
        since = min(max((now_s - self.as_of_s) / STEP_S, 0.0), SPAN_STEPS - 1.0)
        ahead = eta_s / STEP_S
        here = _between(self.profile[positions], since)
        there = _between(self.profile[positions], since + ahead)
        phi = _between(self.phi[positions], ahead)
        step = min(round(ahead), STEPS)
        expected = there + phi * (free_now - here)
        # The chance that expected + error >= min_free (a count is whole: above min_free - 0.5), read
        # off the lot's error deciles; past the outer ones, the 10% tails count half.
        errors = self.errors[positions, step]
        above = ((expected[:, None] + errors) >= min_free - 0.5).sum(axis=1)
        p_free = (above + 0.5) / (len(LEVELS) + 1)
        capacity = self.capacity[positions]
        p_free = np.where(min_free > capacity, 0.0, p_free)
        modelled = self.modelled[positions]
        forecast_free: FloatArray = np.where(modelled, np.clip(expected, 0, capacity), free_now)
        p: FloatArray = np.where(modelled, p_free, (free_now >= min_free).astype(np.float64))
        return forecast_free, p


def _between(rows: Float32Array, column: float) -> FloatArray:
    """Each row's value at a fractional column, linear between its neighbours."""
    low = int(column)
    high = min(low + 1, rows.shape[1] - 1)
    frac = column - low
    result: FloatArray = rows[:, low].astype(np.float64) * (1 - frac) + rows[:, high] * frac
    return result
