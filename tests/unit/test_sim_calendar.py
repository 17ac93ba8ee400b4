"""Weekdays, weekends and event days in the simulator's demand."""

from __future__ import annotations

import numpy as np
import pytest

from sensors_sim.calendar import EVENT_HOURS, VENUE_SHARE, WEEKEND, Calendar, CalendarOptions
from sensors_sim.demand import DAY_MS, HOUR_MS, Demand
from sensors_sim.registry import Registry, load_registry
from tests.unit.simcity import feature, write_features


@pytest.fixture(scope="module")
def garage(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    lots = [feature({"id": "garage", "kind": "off_street", "capacity": 4_000})]
    return load_registry(write_features(tmp_path_factory.mktemp("calendar") / "r.geojson", lots))


def arrivals_by_day(registry: Registry, options: CalendarOptions, days: int) -> np.ndarray:
    demand = Demand(registry, 5, 0, options)
    counts = []
    for day in range(days):
        changes = demand.advance((day + 1) * DAY_MS)
        into_day = changes.at % DAY_MS
        commute = (into_day >= 6 * HOUR_MS) & (into_day < 9 * HOUR_MS)
        counts.append(int((changes.occupied & commute).sum()))
    return np.array(counts)


def test_weekend_mornings_see_fewer_arrivals_than_weekday_mornings(garage: Registry) -> None:
    counts = arrivals_by_day(garage, CalendarOptions(first_weekday=0), 15)
    weekday = (np.arange(15) - 1) % 7
    weekend = np.isin(weekday, WEEKEND)
    weekend[0] = False  # day 0 starts from an empty city
    working = ~weekend
    working[0] = False
    assert counts[weekend].mean() < 0.75 * counts[working].mean()


def test_the_first_weekday_shifts_the_week(garage: Registry) -> None:
    monday = arrivals_by_day(garage, CalendarOptions(first_weekday=0), 8)
    saturday = arrivals_by_day(garage, CalendarOptions(first_weekday=5), 8)
    assert saturday[1] < 0.75 * monday[1]  # day 1 is a Saturday in the second


def test_event_days_are_drawn_per_day_and_boost_only_venue_evenings() -> None:
    lots = 2_000
    calendar = Calendar(lots, np.zeros(lots, dtype=bool), 9, CalendarOptions(event_days=0.3))
    days = np.arange(1_000)
    assert calendar.event_day(days).mean() == pytest.approx(0.3, abs=0.05)
    assert (calendar.lot_class % 2 == 1).mean() == pytest.approx(VENUE_SHARE, abs=0.02)
    event = int(days[calendar.event_day(days)][0])
    plain = int(days[~calendar.event_day(days)][0])
    boost = (
        calendar.rates(event) / calendar.rates(plain) / (calendar.rates(event)[0] / calendar.rates(plain)[0])
    )
    evening = np.zeros(24, dtype=bool)
    evening[EVENT_HOURS[0] : EVENT_HOURS[1]] = True
    assert np.allclose(boost[1][evening], boost[1][evening][0])
    assert boost[1][evening][0] > 2
    assert np.allclose(boost[1][~evening], 1)
    assert np.allclose(boost[0], 1)


def test_no_event_days_unless_asked() -> None:
    calendar = Calendar(100, np.zeros(100, dtype=bool), 9, CalendarOptions())
    assert not calendar.event_day(np.arange(1_000)).any()
