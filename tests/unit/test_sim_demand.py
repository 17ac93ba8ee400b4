"""The demand model's statistics against the figures it is calibrated to, and its determinism."""

from __future__ import annotations

import numpy as np
import pytest

from sensors_sim.demand import DAY_MS, HOUR_MS, Changes, Demand, hour_of
from sensors_sim.rand import Stream
from sensors_sim.registry import Registry, load_registry
from tests.unit.simcity import feature, write_features


@pytest.fixture(scope="module")
def two_lots(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A big kerbside lot and a big garage."""
    lots = [
        feature({"id": "kerb", "kind": "on_street", "capacity": 6_000}),
        feature({"id": "garage", "kind": "off_street", "capacity": 6_000}),
    ]
    return load_registry(write_features(tmp_path_factory.mktemp("demand") / "r.geojson", lots))


def one_day(
    registry: Registry, seed: int = 1, step_ms: int = 10 * 60_000
) -> tuple[Demand, Changes, dict[int, list[float]]]:
    """A day after a day of warm-up: all changes, and the occupancy sampled each step by hour."""
    demand = Demand(registry, seed, 0)
    demand.advance(DAY_MS)
    parts = []
    occupancy: dict[int, list[float]] = {h: [] for h in range(24)}
    for until in range(DAY_MS + step_ms, 2 * DAY_MS + 1, step_ms):
        parts.append(demand.advance(until))
        occupancy[int(hour_of(np.array([until - 1]))[0])].append(float(demand.occupied[:6_000].mean()))
    changes = Changes(*(np.concatenate([getattr(p, f) for p in parts]) for f in Changes.__slots__))
    return demand, changes, occupancy


def test_on_street_stays_are_right_skewed_with_a_1_6_hour_mean(two_lots: Registry) -> None:
    _, changes, _ = one_day(two_lots)
    kerb = changes.occupied & (changes.berth < 6_000)
    hours = changes.stay_ms[kerb] / HOUR_MS
    assert len(hours) > 30_000
    assert 1.4 < hours.mean() < 1.8  # Charlottesville 2-hour spaces: 1.6 h
    assert np.median(hours) < 0.8 * hours.mean()
    assert 0.03 < (hours >= 4).mean() < 0.10  # about 5%
    assert 0.005 < (hours >= 8).mean() < 0.04  # a tail of all-day parkers
    sessions_per_berth_day = len(hours) / 6_000
    assert 5 < sessions_per_berth_day <= 20  # the vendors' battery design point is 20


def test_garages_hold_longer_stays(two_lots: Registry) -> None:
    _, changes, _ = one_day(two_lots)
    garage = changes.occupied & (changes.berth >= 6_000)
    kerb = changes.occupied & (changes.berth < 6_000)
    assert changes.stay_ms[garage].mean() > 2 * changes.stay_ms[kerb].mean()


def test_occupancy_follows_the_day(two_lots: Registry) -> None:
    _, _, occupancy = one_day(two_lots)
    by_hour = {h: float(np.mean(v)) for h, v in occupancy.items()}
    assert max(by_hour[h] for h in range(1, 5)) < 0.45  # night
    assert min(by_hour[h] for h in range(10, 17)) > 0.7  # working hours
    assert by_hour[8] > by_hour[6] + 0.2  # the morning rise


def test_each_berth_alternates_in_time_order(two_lots: Registry) -> None:
    _, changes, _ = one_day(two_lots)
    order = np.lexsort((changes.at, changes.berth))
    berth, at, occupied = changes.berth[order], changes.at[order], changes.occupied[order]
    same = berth[1:] == berth[:-1]
    assert np.all(at[1:][same] > at[:-1][same])
    assert np.all(occupied[1:][same] != occupied[:-1][same])
    assert np.all(changes.stay_ms[~changes.occupied] == 0)


def test_same_seed_same_changes_however_the_day_is_cut(two_lots: Registry) -> None:
    _, fine, _ = one_day(two_lots, seed=3, step_ms=60_000)
    _, coarse, _ = one_day(two_lots, seed=3, step_ms=HOUR_MS)
    _, other, _ = one_day(two_lots, seed=4, step_ms=HOUR_MS)

    def key(c: Changes) -> list[tuple[int, int, bool]]:
        return sorted(zip(c.berth.tolist(), c.at.tolist(), c.occupied.tolist(), strict=True))

    assert key(fine) == key(coarse)
    assert key(fine) != key(other)


def test_counter_based_draws() -> None:
    stream = Stream(7, "test")
    keys = np.arange(200_000)
    u = stream.uniform(keys, 3)
    assert u.min() >= 0.0
    assert u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    assert np.array_equal(u, Stream(7, "test").uniform(keys, 3))
    assert not np.array_equal(u, Stream(7, "other").uniform(keys, 3))
    assert not np.array_equal(u, Stream(8, "test").uniform(keys, 3))
    assert not np.array_equal(u, stream.uniform(keys, 4))
    assert abs(np.corrcoef(u, stream.uniform(keys, 3, salt=1))[0, 1]) < 0.01
    z = stream.normal(keys)
    assert abs(z.mean()) < 0.01
    assert abs(z.std() - 1.0) < 0.01
    assert abs(stream.exponential(keys).mean() - 1.0) < 0.01
