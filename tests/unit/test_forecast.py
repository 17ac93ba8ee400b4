"""The forecast model on series whose truth is known, and the precomputed outlook that queries read."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from parking_hub.query import forecast
from parking_hub.query.outlook import CityOutlook
from parking_hub.store.history import Samples

CAPACITY = 200
WEEK = forecast.WEEK_SLOTS
PHI = 0.9  # the anomaly's persistence per 15-minute step
START = 1_766_000_000 // 900 * 900


def synthetic(weeks: int, seed: int = 3) -> Samples:
    """Free berths: a weekday/weekend daily curve, plus an AR(1) anomaly, as 15-minute samples."""
    rng = np.random.default_rng(seed)
    n = weeks * WEEK
    at = START + np.arange(n) * 900
    hour = (np.arange(n) % forecast.DAY_SLOTS) / 4
    weekend = (np.arange(n) // forecast.DAY_SLOTS) % 7 >= 5
    busy = np.where(weekend, 0.4, 0.8) * np.exp(-(((hour - 13) / 4) ** 2))
    anomaly = np.zeros(n)
    for i in range(1, n):
        anomaly[i] = PHI * anomaly[i - 1] + rng.normal(0, 6)
    free = np.clip(np.rint(CAPACITY * (1 - busy) + anomaly), 0, CAPACITY)
    return Samples(at, CAPACITY - free, np.full(n, float(CAPACITY)), CAPACITY)


def held_out(samples: Samples, horizon_steps: int) -> dict[str, float]:
    train = np.arange(len(samples.at)) < len(samples.at) - WEEK
    part = Samples(samples.at[train], samples.occupied[train], samples.known[train], CAPACITY)
    model = forecast.fit(part)
    assert model is not None
    free = samples.free
    slot = forecast.slot_of(samples.at[train])
    slot_mean = np.bincount(slot, free[train], minlength=WEEK) / np.bincount(slot, minlength=WEEK)
    errors: dict[str, list[float]] = {"model": [], "persistence": [], "slot_mean": [], "inside": []}
    horizon = np.array([horizon_steps * 15.0])
    for i in np.flatnonzero(~train)[:-horizon_steps]:
        truth = free[i + horizon_steps]
        ahead = model.predict(float(samples.at[i]), float(free[i]), horizon)
        errors["model"].append(abs(ahead.free[0] - truth))
        errors["persistence"].append(abs(free[i] - truth))
        errors["slot_mean"].append(abs(slot_mean[forecast.slot_of(samples.at[i + horizon_steps])] - truth))
        errors["inside"].append(float(ahead.low[0] <= truth <= ahead.high[0]))
    return {name: float(np.mean(values)) for name, values in errors.items()}


def test_the_model_learns_the_anomaly_s_persistence() -> None:
    model = forecast.fit(synthetic(4))
    assert model is not None
    assert model.phi[0] == pytest.approx(1.0)
    assert model.phi[1] == pytest.approx(PHI, abs=0.05)
    assert model.phi[4] == pytest.approx(PHI**4, abs=0.08)


def test_on_a_held_out_week_it_beats_both_baselines_at_60_minutes_with_an_honest_interval() -> None:
    scores = held_out(synthetic(5), 4)
    assert scores["model"] <= 0.75 * min(scores["persistence"], scores["slot_mean"]), scores
    assert 0.75 <= scores["inside"] <= 0.85, scores


def test_too_little_history_gives_no_model() -> None:
    short = synthetic(1)
    assert forecast.fit(Samples(short.at[:150], short.occupied[:150], short.known[:150], CAPACITY)) is None
    assert forecast.fit(Samples(short.at[:1], short.occupied[:1], short.known[:1], CAPACITY)) is None


def test_the_outlook_answers_as_the_model_and_its_chances_follow_the_errors() -> None:
    samples = synthetic(3)
    model = forecast.fit(samples)
    assert model is not None
    now = float(samples.at[-1] + 900)
    outlook = CityOutlook.build([model, None], np.array([CAPACITY, 10]), now)
    positions = np.array([0, 1])
    free_now = np.array([120.0, 7.0])
    for eta_min in (15, 60, 240):
        expected, _p = outlook.at_arrival(positions, free_now, now, eta_min * 60, 1)
        predicted = model.predict(now, 120.0, np.array([float(eta_min)])).free[0]
        assert expected[0] == pytest.approx(predicted, abs=1e-3)
        assert expected[1] == 7.0  # no model: the count now
    chances = [outlook.at_arrival(positions[:1], free_now[:1], now, 3600, m)[1][0] for m in range(1, 260, 20)]
    assert chances[0] == 0.95  # beyond the error deciles: the tail counts half
    assert chances[-1] == 0.0  # more than the lot holds
    assert all(a >= b for a, b in itertools.pairwise(chances))
    at_60 = model.predict(now, 120.0, np.array([60.0]))
    assert outlook.at_arrival(positions[:1], free_now[:1], now, 3600, int(at_60.low[0]))[1][0] >= 0.85
    assert outlook.at_arrival(positions[:1], free_now[:1], now, 3600, int(at_60.high[0]) + 2)[1][0] <= 0.15
    _, unmodelled = outlook.at_arrival(positions[1:], free_now[1:], now, 3600, 8)
    assert unmodelled[0] == 0.0  # 7 free now, 8 asked for
