"""Free berths ahead, per lot: its weekly profile plus the present anomaly, decaying as history says.

From a lot's 15-minute history samples (store/history):
- the **profile** is the mean free count in each 15-minute slot of the week (weekday and time of
  day); slots never sampled fall back to the mean of that time of day over all days;
- the **anomaly** is how far the lot is from its profile now. It carries forward as far as the lot's
  own history says: for each horizon step k, `phi[k]` is the least-squares factor by which a
  residual k steps earlier predicts the residual now;
- the **80% interval** is the 10th and 90th percentiles of what that rule got wrong on the history
  itself (residuals taken against leave-one-out profiles, so a sample never predicts itself); the
  model keeps every 10% quantile, for the probability of a number of free berths (query/outlook).

Forecast at horizon h: profile(now + h) + phi(h) * (free now - profile(now)), clipped to
0..capacity, the profile interpolated between slots and phi and the quantiles between steps.
`python -m benchmarks.forecast` measures it against persistence and the weekday/slot mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parking_hub.arrays import FloatArray, IntArray
from parking_hub.store.history import COARSE, Samples

STEP_S = COARSE.step_s
DAY_SLOTS = 86_400 // STEP_S
WEEK_SLOTS = 7 * DAY_SLOTS
MAX_HORIZON_MIN = 240
STEPS = MAX_HORIZON_MIN * 60 // STEP_S  # horizon steps the model is fitted for, past 0
MIN_PAIRS = 2 * DAY_SLOTS  # residual pairs per step below which the lot gets no model
LEVELS = np.arange(1, 10) / 10  # the error quantiles kept per horizon step: 10%, 20%, .. 90%
LOW, HIGH = 0, 8  # LEVELS' 10% and 90%: the 80% interval


@dataclass(frozen=True, slots=True)
class Forecast:
    free: FloatArray
    low: FloatArray
    high: FloatArray


@dataclass(frozen=True, slots=True)
class LotModel:
    capacity: int
    profile: FloatArray  # mean free per slot of the week; NaN where no history at all
    phi: FloatArray  # per horizon step 0..STEPS
    errors: FloatArray  # per horizon step, the quantiles LEVELS of the rule's errors on the history

    @property
    def low(self) -> FloatArray:
        low: FloatArray = self.errors[:, LOW]
        return low

    @property
    def high(self) -> FloatArray:
        high: FloatArray = self.errors[:, HIGH]
        return high

    def profile_at(self, at_s: FloatArray) -> FloatArray:
        """The profile, linear between slot boundaries (a sample is the count at its boundary)."""
        position = at_s / STEP_S
        base = np.floor(position).astype(np.int64)
        frac = position - base
        here, after = self.profile[base % WEEK_SLOTS], self.profile[(base + 1) % WEEK_SLOTS]
        result: FloatArray = here * (1 - frac) + after * frac
        return result

    def predict(self, now_s: float, free_now: float, horizons_min: FloatArray) -> Forecast:
        steps = horizons_min * 60 / STEP_S
        grid = np.arange(STEPS + 1)
        phi, low, high = (np.interp(steps, grid, v) for v in (self.phi, self.low, self.high))
        base = self.profile_at(now_s + horizons_min * 60)
        anomaly = free_now - float(self.profile_at(np.array([now_s]))[0])
        free = base + phi * anomaly
        cap = self.capacity
        return Forecast(np.clip(free, 0, cap), np.clip(free + low, 0, cap), np.clip(free + high, 0, cap))


def persistence(capacity: int, free_now: float, horizons_min: FloatArray) -> Forecast:
    """The answer for a lot without enough history: free stays as it is, within 0..capacity."""
    n = len(horizons_min)
    return Forecast(np.full(n, float(free_now)), np.zeros(n), np.full(n, float(capacity)))


def slot_of(at_s: IntArray) -> IntArray:
    slots: IntArray = (at_s // STEP_S) % WEEK_SLOTS
    return slots


def fit(samples: Samples, *, pool_days: bool = True) -> LotModel | None:
    """The lot's model from its 15-minute samples; None when they are too few to fit one.
    `pool_days=False` keeps each weekday's profile to itself (the simpler model it must beat)."""
    if len(samples.at) < 2:
        return None
    free = samples.free
    slot = slot_of(samples.at)
    total: FloatArray = np.bincount(slot, free, minlength=WEEK_SLOTS).astype(np.float64)
    count: FloatArray = np.bincount(slot, minlength=WEEK_SLOTS).astype(np.float64)
    day_total = total.reshape(7, DAY_SLOTS).sum(axis=0)
    day_count = count.reshape(7, DAY_SLOTS).sum(axis=0)
    squares: FloatArray = np.bincount(slot, free * free, minlength=WEEK_SLOTS).astype(np.float64)
    if pool_days:
        total, count, squares = _pooled(total, count, squares)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(count > 0, total / count, np.tile(day_total / day_count, 7))
        # Leave-one-out: each sample against the mean of the others in its slot.
        loo = np.where(count[slot] > 1, (total[slot] - free) / (count[slot] - 1), np.nan)
    grid_len = int((samples.at[-1] - samples.at[0]) // STEP_S) + 1
    residual = np.full(grid_len, np.nan)
    residual[(samples.at - samples.at[0]) // STEP_S] = free - loo
    phi, errors = np.zeros(STEPS + 1), np.zeros((STEPS + 1, len(LEVELS)))
    for k in range(STEPS + 1):
        before, after = residual[: grid_len - k], residual[k:]
        both = ~np.isnan(before) & ~np.isnan(after)
        if both.sum() < MIN_PAIRS:
            return None
        x, y = before[both], after[both]
        sxx = float(x @ x)
        phi[k] = float(x @ y) / sxx if sxx > 0 else 0.0
        errors[k] = np.quantile(y - phi[k] * x, LEVELS)
    return LotModel(samples.capacity, profile, phi, errors)


POOL_WINDOW = 16  # slots each side over which two days' curves are compared
POOL_TOLERANCE = 2.0


def _pooled(
    total: FloatArray, count: FloatArray, squares: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Each slot's sums joined with those of the same time on other days whose curves around it
    match this day's within sampling noise: weekdays pool with weekdays, weekends with weekends."""
    repeated = count > 1
    if not repeated.any():
        return total, count, squares
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        variance = float(np.mean(((squares - total * mean) / (count - 1))[repeated]))
    kernel = np.ones(2 * POOL_WINDOW + 1)
    out = [total.copy(), count.copy(), squares.copy()]
    for shift in range(1, 7):
        other = [np.roll(v, -shift * DAY_SLOTS) for v in (total, count, squares)]
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = (mean - other[0] / other[1]) ** 2
            noise = variance * (1 / count + 1 / other[1])
        both = np.isfinite(diff) & np.isfinite(noise)
        local = np.convolve(_wrap(np.where(both, diff, 0)), kernel, "valid")
        local_noise = np.convolve(_wrap(np.where(both, noise, 0)), kernel, "valid")
        same = both & (local <= POOL_TOLERANCE * local_noise)
        for k in range(3):
            out[k] += np.where(same, other[k], 0)
    return out[0], out[1], out[2]


def _wrap(week: FloatArray) -> FloatArray:
    """The week with POOL_WINDOW slots of each end repeated past the other: it is a circle."""
    return np.concatenate((week[-POOL_WINDOW:], week, week[:POOL_WINDOW]))
