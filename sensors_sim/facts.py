"""What a driver needs to know of each generated lot (contract 7.1): hours, clearance, access, fees.

The seed city's facts follow the kind of lot its name says: kerbside bays and most car parks are
open around the clock and cheap; underground car parks are low (2.0-2.2 m); plaza (mall) car parks
keep the mall's hours and often serve its customers only; some car parks are for residents or
permit holders; surface lots keep a few truck and bus berths, some kerbs and car parks a few for
motorcycles. Facts come from their own generator (seeded by the city's seed), so adding them left
the rest of the city as it was.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

TIMEZONE = "Asia/Shanghai"
CURRENCY = "CNY"
CAR_PARK, GARAGE, UNDERGROUND, PLAZA, SURFACE = range(5)  # city.OFF_STREET_LABELS, in order
KERB = -1
MALL_HOURS = (
    "Mo-Su 09:00-22:00",
    "Mo-Fr 10:00-22:00; Sa,Su,PH 09:00-22:30",
    "Mo-Th 10:00-21:30; Fr-Su,PH 10:00-22:30",
)
OFFICE_HOURS = "Mo-Fr 07:00-20:00; PH off"
FACTS_STREAM = 7  # the facts' generator: default_rng([seed, FACTS_STREAM])


def _entrances(rng: np.random.Generator, lon: float, lat: float) -> list[list[float]]:
    """One or two gates 30-120 m from the lot's point."""
    gates = []
    for _ in range(int(rng.integers(1, 3))):
        distance, heading = rng.uniform(30.0, 120.0), rng.uniform(0.0, 2 * np.pi)
        north, east = distance * np.cos(heading), distance * np.sin(heading)
        gates.append(
            [
                round(lon + east / (111_320.0 * np.cos(np.radians(lat))), 6),
                round(lat + north / 111_320.0, 6),
            ]
        )
    return gates


def _fee(
    rng: np.random.Generator, low: float, high: float, free_minutes: int, day_cap: bool
) -> dict[str, Any]:
    per_hour = float(rng.integers(int(low * 2), int(high * 2) + 1)) / 2  # in half yuan
    fee: dict[str, Any] = {"currency": CURRENCY, "per_hour": per_hour, "free_minutes": free_minutes}
    if day_cap:
        fee["max_per_day"] = per_hour * 8
    first = f"first {free_minutes} min free, " if free_minutes else ""
    fee["text"] = f"{first}{per_hour:g} CNY per hour" + (
        f", at most {per_hour * 8:g} CNY a day" if day_cap else ""
    )
    return fee


@dataclass(frozen=True, slots=True)
class Shape:
    """What the facts of a lot depend on."""

    label: int  # index into city.OFF_STREET_LABELS, or KERB
    capacity: int
    ev: int  # chargers: the first berths
    accessible: int  # accessible bays: the last berths
    lon: float
    lat: float

    def middle(self, share: float) -> list[int]:
        """Berths in the middle of the row, clear of the chargers and the accessible bays: a few
        percent of the lot, at least two; none where they do not fit."""
        count = max(2, round(self.capacity * share))
        room = self.capacity - self.ev - self.accessible
        start = self.ev + (room - count) // 2
        return list(range(start, start + count)) if count <= room else []


Facts = dict[str, Any]
Classes = dict[str, list[int]]


def _kerb(rng: np.random.Generator, lot: Shape, draw: float) -> tuple[Facts, Classes]:
    facts = {"fee": _fee(rng, 2.0, 5.0, 15, day_cap=False), "max_stay_min": 120}
    return facts, {"motorcycle": lot.middle(0.1)} if draw < 0.15 and lot.capacity >= 20 else {}


def _underground(rng: np.random.Generator, lot: Shape, draw: float) -> tuple[Facts, Classes]:
    height = round(float(rng.choice((2.0, 2.1, 2.2))), 1)
    return {"max_height_m": height, "fee": _fee(rng, 6.0, 12.0, 15, day_cap=True)}, {}


def _garage(rng: np.random.Generator, lot: Shape, draw: float) -> tuple[Facts, Classes]:
    height = round(float(rng.choice((2.1, 2.2, 2.3, 2.5))), 1)
    facts = {"max_height_m": height, "fee": _fee(rng, 5.0, 10.0, 15, day_cap=True)}
    return facts, {"carsharing": lot.middle(0.01)} if draw < 0.3 else {}


def _plaza(rng: np.random.Generator, lot: Shape, draw: float) -> tuple[Facts, Classes]:
    facts = {
        "opening_hours": MALL_HOURS[int(rng.integers(0, len(MALL_HOURS)))],
        "max_height_m": round(float(rng.choice((2.0, 2.1, 2.2))), 1),
        "fee": _fee(rng, 5.0, 10.0, 60, day_cap=False),
        "access": "customers" if draw < 0.3 else "public",
    }
    return facts, {"family": lot.middle(0.03)}


def _surface(rng: np.random.Generator, lot: Shape, draw: float) -> tuple[Facts, Classes]:
    facts = {"fee": _fee(rng, 3.0, 6.0, 30, day_cap=True)}
    if lot.capacity < 60 or draw >= 0.35:
        return facts, {}
    return facts, {"truck": lot.middle(0.04)} if draw < 0.25 else {"bus": lot.middle(0.03)}


def _car_park(rng: np.random.Generator, lot: Shape, draw: float) -> tuple[Facts, Classes]:
    if draw < 0.12:  # a residential compound's
        return {"access": "residents", "fee": {"text": "residents' monthly permits only"}}, {}
    if draw < 0.18:  # an office building's
        return {"access": "permit", "opening_hours": OFFICE_HOURS}, {}
    facts = {"fee": _fee(rng, 4.0, 8.0, 30, day_cap=True)}
    return facts, {"motorcycle": lot.middle(0.05)} if draw > 0.9 else {}


BY_LABEL = {
    KERB: _kerb,
    CAR_PARK: _car_park,
    GARAGE: _garage,
    UNDERGROUND: _underground,
    PLAZA: _plaza,
    SURFACE: _surface,
}


def lot_facts(rng: np.random.Generator, lot: Shape, address: str) -> tuple[Facts, Classes]:
    """The lot's fact properties, and the berths of its vehicle classes and other new features."""
    facts: Facts = {"timezone": TIMEZONE, "opening_hours": "24/7"}
    draw = rng.random()
    if lot.label != KERB:
        facts["entrances"] = _entrances(rng, lot.lon, lot.lat)
    own, classes = BY_LABEL[lot.label](rng, lot, draw)
    facts |= own
    facts["address"] = address
    return facts, {name: berths for name, berths in classes.items() if berths}
