"""Which day is which: weekdays, weekends and event days, as arrival rates over simulated time.

Arrivals per free berth follow the local hour with one profile for weekdays and another for
Saturdays and Sundays (later, flatter, shopping-led), times a factor per day for the whole city
(busy and quiet days: weather, holidays), log-normal with DAY_SIGMA. On an event day (a share of
days, drawn per day from the seed) the city's venue lots (a share of lots, fixed by the seed) see
arrivals multiplied by EVENT_BOOST from EVENT_HOURS[0] to EVENT_HOURS[1]: a concert or a match that
no weekly profile can know. Rates are tabulated per hour for as many days as the run needs; the
table grows on demand.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensors_sim.rand import Stream

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKEND = (5, 6)
# Arrivals per free berth per hour, by local hour 0..23; row 0 off-street, row 1 on-street.
WEEKDAY_ARRIVALS = np.array(
    [
        [0.06, 0.04, 0.03, 0.03, 0.04, 0.10, 0.35, 1.10, 1.60, 1.30, 1.00, 0.95,
         1.00, 1.00, 0.90, 0.85, 0.85, 0.90, 0.85, 0.70, 0.55, 0.35, 0.20, 0.10],
        [0.12, 0.08, 0.06, 0.06, 0.08, 0.20, 0.60, 1.80, 3.00, 3.40, 3.50, 3.70,
         3.70, 3.50, 3.40, 3.40, 3.50, 3.70, 3.40, 2.60, 1.80, 1.10, 0.60, 0.30],
    ]
)  # fmt: skip
WEEKEND_ARRIVALS = np.array(
    [
        [0.08, 0.05, 0.04, 0.03, 0.03, 0.05, 0.10, 0.25, 0.50, 0.90, 1.30, 1.50,
         1.50, 1.40, 1.30, 1.20, 1.10, 1.00, 0.95, 0.85, 0.70, 0.50, 0.30, 0.15],
        [0.15, 0.10, 0.08, 0.06, 0.06, 0.08, 0.20, 0.50, 1.20, 2.20, 3.00, 3.40,
         3.40, 3.30, 3.20, 3.10, 3.00, 2.90, 2.70, 2.30, 1.80, 1.20, 0.70, 0.35],
    ]
)  # fmt: skip
DAY_SIGMA = 0.1  # day-to-day spread of the whole city's demand (weather, school holidays): log-normal
VENUE_SHARE = 0.1
EVENT_BOOST = 4.0
EVENT_HOURS = (17, 22)


@dataclass(frozen=True, slots=True)
class CalendarOptions:
    first_weekday: int = 0  # the weekday of the run's first day (day 1): 0 Monday .. 6 Sunday
    event_days: float = 0.0  # share of days that are event days


class Calendar:
    """Arrival rates per rate class (kind * 2 + venue) and hour, cumulated from day 0."""

    CLASSES = 4

    def __init__(self, lots: int, on_street: BoolArray, seed: int, options: CalendarOptions) -> None:
        self.options = options
        self._seed = seed
        venue = Stream(seed, "venues").uniform(np.arange(lots)) < VENUE_SHARE
        self.lot_class = on_street.astype(np.int64) * 2 + venue.astype(np.int64)
        self.cumulative = np.zeros((self.CLASSES, 1))  # per class, at each hour boundary from day 0
        self.days = 0

    def weekday(self, day: IntArray) -> IntArray:
        weekdays: IntArray = (self.options.first_weekday + day - 1) % 7
        return weekdays

    def event_day(self, day: IntArray) -> BoolArray:
        events: BoolArray = Stream(self._seed, "event days").uniform(day) < self.options.event_days
        return events

    def rates(self, day: int) -> FloatArray:
        """Arrivals per free berth per hour on one day: classes x 24."""
        days = np.array([day])
        weekend = bool(np.isin(self.weekday(days), WEEKEND)[0])
        base = WEEKEND_ARRIVALS if weekend else WEEKDAY_ARRIVALS
        busy = float(np.exp(DAY_SIGMA * Stream(self._seed, "busy days").normal(days)[0]))
        rates = np.repeat(base, 2, axis=0) * busy  # class = kind * 2 + venue
        if self.event_day(days)[0]:
            rates[1::2, EVENT_HOURS[0] : EVENT_HOURS[1]] *= EVENT_BOOST
        return rates

    def cover(self, days: int) -> None:
        """Tabulate at least `days` days from day 0."""
        if days <= self.days:
            return
        days = max(days, 2 * self.days)
        hourly = np.concatenate([self.rates(d) for d in range(self.days, days)], axis=1)
        tail = self.cumulative[:, -1:] + np.cumsum(hourly, axis=1)
        self.cumulative = np.concatenate((self.cumulative, tail), axis=1)
        self.days = days
