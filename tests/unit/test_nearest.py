"""The nearest search and the box listing equal a brute-force answer over the same state."""

from __future__ import annotations

import math
import random
import time
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from opening_hours import OpeningHours

from parking_hub.lot_facts import ACCESS, Facts, Fee
from parking_hub.query import forecast
from parking_hub.query.area import Box, lots_in_box
from parking_hub.query.arrival import at_arrival
from parking_hub.query.availability import Availability
from parking_hub.query.forecast import LotModel
from parking_hub.query.geo import EARTH_RADIUS_M, distances_m, unit_vector, unit_vectors
from parking_hub.query.index import CityIndex
from parking_hub.query.live import now_ms
from parking_hub.query.nearest import NearestQuery, nearest_berths, nearest_lots
from parking_hub.query.outlook import CityOutlook
from parking_hub.registry import MAX_LAT, VEHICLE_CLASSES, Lot
from parking_hub.store import history

NOW = 1_764_201_600_000
HOURS = (
    None,
    None,
    "24/7",
    "Mo-Fr 07:00-22:00; Sa,Su 08:00-20:00; PH off",
    "Mo-Su 10:00-14:00",
    "22:00-06:00",
)
ZONES = (None, "Asia/Shanghai", "Europe/Berlin")
VEHICLES = ("car", "car", *VEHICLE_CLASSES)
CITIES = [
    (1, (36.07, 120.38), 0.05),
    (2, (36.07, 120.38), 0.3),
    (3, (0.0, 179.99), 0.05),  # across the antimeridian
    (4, (84.9, 10.0), 0.05),  # high latitude
    (5, (85.0, -179.97), 0.08),  # both, and clamped at the map's edge
]


def haversine_m(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """The textbook formula, written here apart from the code under test."""
    phi1, phi2 = math.radians(lat), np.radians(lats)
    a = (
        np.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * np.cos(phi2) * np.sin((np.radians(lons) - math.radians(lon)) / 2) ** 2
    )
    result: np.ndarray = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result


def wrap(lon: float) -> float:
    return (lon + 180) % 360 - 180


def clamp_lat(lat: float) -> float:
    return max(-MAX_LAT, min(MAX_LAT, lat))


def bays(rng: random.Random, lat: float, lon: float, capacity: int) -> tuple[tuple[float, float], ...]:
    """Bays scattered up to about 400 m from the lot's point."""
    scale = 1 / 111_320
    return tuple(
        (
            wrap(lon + rng.uniform(-400, 400) * scale / max(math.cos(math.radians(lat)), 0.05)),
            clamp_lat(lat + rng.uniform(-400, 400) * scale),
        )
        for _ in range(capacity)
    )


def sample(rng: random.Random, capacity: int) -> tuple[int, ...]:
    return tuple(sorted(rng.sample(range(capacity), k=rng.randint(0, min(6, capacity)))))


def vehicle_classes(rng: random.Random, capacity: int) -> dict[str, tuple[int, ...]]:
    """A few berths for motorcycles, trucks or buses, each under one class at most."""
    classes: dict[str, list[int]] = {}
    for berth in range(capacity):
        if rng.random() < 0.15:
            classes.setdefault(rng.choice(VEHICLE_CLASSES), []).append(berth)
    return {name: tuple(berths) for name, berths in classes.items()}


def facts(rng: random.Random, lat: float, lon: float) -> Facts:
    scale = 300 / 111_320
    entrances = tuple(
        (wrap(lon + rng.uniform(-scale, scale)), clamp_lat(lat + rng.uniform(-scale, scale)))
        for _ in range(rng.choice((0, 0, 1, 3)))
    )
    per_hour = rng.choice((None, 0.0, 4.0, 6.0, 10.0, 15.0))
    return Facts(
        timezone=rng.choice(ZONES),
        opening_hours=rng.choice(HOURS),
        entrances=entrances,
        max_height_m=rng.choice((None, 1.9, 2.0, 2.2, 4.5)),
        access=rng.choice(("public", "public", *ACCESS)),
        fee=rng.choice((None, Fee(currency="CNY", per_hour=per_hour))),
    )


def city(
    rng: random.Random, n: int, centre: tuple[float, float], spread: float, *, with_facts: bool = False
) -> list[Lot]:
    lots = []
    for i in range(n):
        capacity = rng.randint(1, 40)
        ev, accessible = sample(rng, capacity), sample(rng, capacity)
        lat = clamp_lat(centre[0] + rng.uniform(-spread, spread))
        lon = wrap(centre[1] + rng.uniform(-spread, spread))
        on_street = rng.random() < 0.4
        extra = vehicle_classes(rng, capacity) | {"family": sample(rng, capacity)} if with_facts else {}
        lots.append(
            Lot(
                id=f"lot-{i:04d}",
                name=f"Lot {i}",
                operator="op",
                kind="on_street" if on_street else "off_street",
                capacity=capacity,
                lat=lat,
                lon=lon,
                heartbeat_s=rng.choice((60, 3600)),
                features={k: v for k, v in (("ev", ev), ("accessible", accessible), *extra.items()) if v},
                berths=bays(rng, lat, lon, capacity) if on_street else None,
                facts=facts(rng, lat, lon) if with_facts else Facts(),
            )
        )
    # Two lots at the same point: ties are broken by lot id.
    twin = lots[0]
    lots.append(Lot(**{**{f: getattr(twin, f) for f in twin.__slots__}, "id": "lot-0000-twin"}))
    return lots


def random_state(rng: random.Random, lots: list[Lot]) -> Availability:
    state = Availability(CityIndex.build(lots), now_ms=NOW)
    b = state.index.layout.berth_count
    np_rng = np.random.default_rng(rng.randint(0, 2**32))
    ts = NOW - np_rng.integers(0, 4 * 3600 * 1000, size=b)
    state.ranks[:] = np.where(np_rng.random(b) < 0.1, 0, ts * 2 + np_rng.integers(0, 2, size=b))
    state.status_rank[:] = np.where(np_rng.random(len(lots)) < 0.1, NOW * 2, 0)  # a few lots offline
    state.recount(np.arange(len(lots)), NOW)
    return state


class BruteCity:
    """Every berth as a row, from the Lot records and the raw reports, counted one by one."""

    def __init__(self, state: Availability) -> None:
        lots = sorted(state.index.lots, key=lambda lot: lot.id)
        rows: list[tuple[int, int, float, float, bool, dict[str, bool]]] = []
        for i, lot in enumerate(lots):
            status = int(state.status_rank[i])
            online = status == 0 or status % 2 == 1
            for berth in range(lot.capacity):
                rank = int(state.ranks[state.index.layout.offsets[i] + berth])
                fresh = rank > 0 and NOW - (rank >> 1) <= 3 * lot.heartbeat_s * 1000
                lon, lat = lot.berths[berth] if lot.berths else (lot.lon, lot.lat)
                free = online and fresh and rank % 2 == 0
                has = {name: berth in listed for name, listed in lot.features.items()}
                has["car"] = not any(has.get(name) for name in VEHICLE_CLASSES)
                rows.append((i, berth, lat, lon, free, has))
        self.lots = lots
        self.lot = np.array([r[0] for r in rows])
        self.berth = np.array([r[1] for r in rows])
        self.lat = np.array([r[2] for r in rows])
        self.lon = np.array([r[3] for r in rows])
        self.free = np.array([r[4] for r in rows])
        self.has = {
            name: np.array([r[5].get(name, False) for r in rows])
            for name in ("ev", "accessible", "family", "car", *VEHICLE_CLASSES)
        }
        self.lot_lat = np.array([lot.lat for lot in lots])
        self.lot_lon = np.array([lot.lon for lot in lots])
        self.on_street = np.array([lot.kind == "on_street" for lot in lots])
        self.hours = [
            None
            if lot.facts.opening_hours is None
            else OpeningHours(
                lot.facts.opening_hours,
                timezone=ZoneInfo(lot.facts.timezone or "UTC"),
                coords=(round(lot.lat, 1), round(lot.lon, 1)),
            )
            for lot in lots
        ]

    def usable(self, q: NearestQuery) -> np.ndarray:
        """Per lot, whether it passes the query's lot filters, each judged from the Lot record."""
        utc = ZoneInfo("UTC")
        arrival = None if q.arrival_ms is None else datetime.fromtimestamp(q.arrival_ms / 1000, tz=utc)
        ok = []
        for lot, hours in zip(self.lots, self.hours, strict=True):
            height = lot.facts.max_height_m
            price = None if lot.facts.fee is None else lot.facts.fee.per_hour
            ok.append(
                (q.kind is None or lot.kind == q.kind)
                and (height is None or height >= q.height_m)
                and lot.facts.access in q.access
                and (q.max_per_hour == math.inf or (price is not None and price <= q.max_per_hour))
                and (arrival is None or hours is None or not hours.is_closed(arrival))
            )
        return np.array(ok)

    def matching_free(self, q: NearestQuery) -> np.ndarray:
        ok: np.ndarray = self.free & self.has[q.vehicle] & self.usable(q)[self.lot]
        for name in q.features:
            ok &= self.has[name]
        return ok

    def lot_distances(self, q: NearestQuery) -> np.ndarray:
        """To each lot's nearest entrance, or its point where it lists none."""
        return np.array(
            [
                min(
                    haversine_m(q.lat, q.lon, np.array([lat]), np.array([lon]))[0]
                    for lon, lat in (lot.facts.entrances or ((lot.lon, lot.lat),))
                )
                for lot in self.lots
            ]
        )

    def lots_answer(self, q: NearestQuery) -> list[tuple[str, float]]:
        free = np.bincount(self.lot[self.matching_free(q)], minlength=len(self.lots))
        d = self.lot_distances(q)
        ok = np.flatnonzero((d <= q.radius_m) & (free >= q.min_free))
        rows = sorted((float(d[i]), self.lots[i].id) for i in ok)[: q.limit]
        return [(lot_id, dist) for dist, lot_id in rows]

    def berths_answer(self, q: NearestQuery) -> list[tuple[str, int, float]]:
        d = haversine_m(q.lat, q.lon, self.lat, self.lon)
        ok = np.flatnonzero(self.matching_free(q) & (d <= q.radius_m))
        rows = sorted((float(d[k]), self.lots[self.lot[k]].id, int(self.berth[k])) for k in ok)[: q.limit]
        return [(lot_id, berth, dist) for dist, lot_id, berth in rows]


def random_query(
    rng: random.Random, centre: tuple[float, float], spread: float, *, filters: bool = False
) -> NearestQuery:
    query = NearestQuery(
        lat=clamp_lat(centre[0] + rng.uniform(-spread, spread)),
        lon=wrap(centre[1] + rng.uniform(-spread, spread)),
        limit=rng.randint(1, 50),
        radius_m=rng.choice((1.0, 50.0, 500.0, 2000.0, 10_000.0, 50_000.0)),
        min_free=rng.randint(1, 5),
        features=rng.choice(((), ("ev",), ("accessible",), ("accessible", "ev"), ("family",))),
        kind=rng.choice((None, "off_street", "on_street")),
        access=tuple(ACCESS),  # every lot, unless filters draws otherwise
    )
    if not filters:
        return query
    return NearestQuery(
        **{f: getattr(query, f) for f in query.__slots__}
        | {
            "vehicle": rng.choice(VEHICLES),
            "height_m": rng.choice((0.0, 0.0, 2.0, 2.1, 3.0)),
            "access": rng.choice((("public",), ("public", "residents"), tuple(ACCESS))),
            "max_per_hour": rng.choice((math.inf, math.inf, 0.0, 6.0, 10.0)),
            # Arrival within the next eight hours, or open and closed alike.
            "arrival_ms": rng.choice((None, NOW + rng.randrange(0, 8 * 3_600_000))),
        }
    )


def same_distance(got: float, want: float) -> bool:
    return abs(got - want) <= max(1e-6, want * 1e-9)


@pytest.mark.parametrize(("seed", "centre", "spread"), CITIES)
def test_nearest_lots_match_brute_force(seed: int, centre: tuple[float, float], spread: float) -> None:
    rng = random.Random(seed)
    state = random_state(rng, city(rng, 400, centre, spread))
    brute = BruteCity(state)
    for _ in range(600):
        q = random_query(rng, centre, spread)
        got = [(state.index.lots[h.position].id, h.distance_m) for h in nearest_lots(state, q)]
        want = brute.lots_answer(q)
        assert [g[0] for g in got] == [w[0] for w in want], q
        assert all(same_distance(g[1], w[1]) for g, w in zip(got, want, strict=True)), q


@pytest.mark.parametrize(("seed", "centre", "spread"), CITIES)
def test_nearest_berths_match_brute_force(seed: int, centre: tuple[float, float], spread: float) -> None:
    rng = random.Random(seed)
    state = random_state(rng, city(rng, 400, centre, spread))
    brute = BruteCity(state)
    for _ in range(600):
        q = random_query(rng, centre, spread)
        hits = nearest_berths(state, q)
        got = [(state.index.lots[h.position].id, h.berth, h.distance_m) for h in hits]
        want = brute.berths_answer(q)
        assert [g[:2] for g in got] == [w[:2] for w in want], q
        assert all(same_distance(g[2], w[2]) for g, w in zip(got, want, strict=True)), q
        for hit in hits:
            lot = state.index.lots[hit.position]
            lon, lat = lot.berths[hit.berth] if lot.berths else (lot.lon, lot.lat)
            assert (hit.lat, hit.lon) == (lat, lon)


@pytest.mark.parametrize(("seed", "centre", "spread"), CITIES[:3])
def test_nearest_with_facts_and_filters_matches_brute_force(
    seed: int, centre: tuple[float, float], spread: float
) -> None:
    """Vehicle classes, clearance, access, fees, opening hours at arrival, and distances to entrances."""
    rng = random.Random(seed)
    state = random_state(rng, city(rng, 300, centre, spread, with_facts=True))
    brute = BruteCity(state)
    answered = closed_out = 0
    for _ in range(300):
        q = random_query(rng, centre, spread, filters=True)
        got = [(state.index.lots[h.position].id, h.distance_m) for h in nearest_lots(state, q)]
        want = brute.lots_answer(q)
        answered += bool(want)
        if q.arrival_ms is not None:
            closed_out += bool(set(brute.lots_answer(replace(q, arrival_ms=None))) - set(want))
        assert [g[0] for g in got] == [w[0] for w in want], q
        assert all(same_distance(g[1], w[1]) for g, w in zip(got, want, strict=True)), q
        berths = [(state.index.lots[h.position].id, h.berth) for h in nearest_berths(state, q)]
        assert berths == [w[:2] for w in brute.berths_answer(q)], q
    # The filters leave answers, and closing hours matter.
    assert answered > 10
    assert closed_out > 3


@pytest.mark.parametrize(("seed", "centre", "spread"), CITIES)
def test_lots_in_box_match_brute_force(seed: int, centre: tuple[float, float], spread: float) -> None:
    rng = random.Random(seed)
    index = CityIndex.build(city(rng, 400, centre, spread))
    for _ in range(300):
        south, north = sorted(clamp_lat(centre[0] + rng.uniform(-spread, spread)) for _ in range(2))
        west, east = (wrap(centre[1] + rng.uniform(-spread, spread)) for _ in range(2))  # west > east wraps
        after = rng.choice((-1, rng.randrange(len(index.lots))))
        got = lots_in_box(index, Box(west, south, east, north), after).tolist()
        want = [
            i
            for i, lot in enumerate(index.lots)
            if south <= lot.lat <= north
            and (west <= lot.lon <= east if west <= east else (lot.lon >= west or lot.lon <= east))
            and i > after
        ]
        assert got == want


def test_tick_recounts_lots_whose_berths_turn_stale_as_a_full_recount_would() -> None:
    rng = random.Random(7)
    lots = city(rng, 300, (36.07, 120.38), 0.05)
    state = random_state(rng, lots)
    for later in (NOW + 1, NOW + 30_000, NOW + 600_000, NOW + 3 * 3600_000, NOW + 12 * 3600_000):
        changed = state.tick(later)
        fresh = Availability(state.index)
        fresh.ranks[:], fresh.status_rank[:] = state.ranks, state.status_rank
        fresh.recount(np.arange(len(lots)), later)
        assert np.array_equal(state.known, fresh.known)
        assert np.array_equal(state.free, fresh.free)
        assert np.array_equal(state.known_n, fresh.known_n)
        for combo, counts in state.free_n.items():
            assert np.array_equal(counts, fresh.free_n[combo])
        # Only lots past their deadline were recounted, and those that moved are reported.
        assert set(changed.tolist()) <= set(np.flatnonzero(state.changed_in == state.version).tolist())
    assert state.known_n.sum() == 0  # twelve hours on, every heartbeat has lapsed


def test_great_circle_distance_equals_haversine() -> None:
    # One degree of latitude along a meridian is R * pi / 180.
    d = haversine_m(0.0, 0.0, np.array([1.0]), np.array([0.0]))[0]
    assert d == pytest.approx(EARTH_RADIUS_M * math.pi / 180, rel=1e-12)
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(-85, 85, 5000), rng.uniform(-180, 180, 5000)
    for q_lat, q_lon in ((0.0, 0.0), (36.07, 120.38), (-84.9, 179.9)):
        want = haversine_m(q_lat, q_lon, lat, lon)
        got = distances_m(unit_vector(q_lat, q_lon), unit_vectors(lat, lon))
        assert np.allclose(got, want, rtol=1e-9, atol=1e-6)
    # Short distances keep their precision: 1 m east at the equator.
    one_metre = 1 / (EARTH_RADIUS_M * math.pi / 180)
    assert distances_m(unit_vector(0, 0), unit_vectors(np.array([0.0]), np.array([one_metre])))[
        0
    ] == pytest.approx(1.0, rel=1e-9)


def patterned_model(rng: random.Random, capacity: int) -> LotModel | None:
    """A lot's model fitted on three weeks of a daily pattern of its own phase."""
    at = np.arange(1_700_000_000, 1_700_000_000 + 21 * 86_400, forecast.STEP_S, dtype=np.int64)
    phase = rng.uniform(0, 2 * np.pi)
    occupied = np.round((np.sin(2 * np.pi * at / 86_400 + phase) + 1) / 2 * capacity)
    return forecast.fit(history.Samples(at, occupied, np.full(len(at), float(capacity)), capacity))


@pytest.mark.parametrize(("seed", "centre", "spread"), CITIES[:3])
def test_nearest_at_arrival_qualifies_on_the_forecast_as_the_whole_city_would(
    seed: int, centre: tuple[float, float], spread: float
) -> None:
    """Forecasts made for the lots near the query only answer as forecasts for every lot would."""
    rng = random.Random(seed)
    state = random_state(rng, city(rng, 300, centre, spread, with_facts=True))
    lots = state.index.lots
    models = [patterned_model(rng, lot.capacity) if rng.random() < 0.8 else None for lot in lots]
    state.outlook = CityOutlook.build(models, state.index.layout.capacity, time.time())
    brute = BruteCity(state)
    everywhere = np.arange(len(lots))
    moved = 0
    for _ in range(200):
        q = random_query(rng, centre, spread, filters=True)
        arrival_ms = now_ms() + rng.randrange(0, 5 * 3_600_000)
        q = replace(q, forecast_ms=arrival_ms)
        got = [state.index.lots[h.position].id for h in nearest_lots(state, q)]
        free = state.free_counts(q.berth_names)
        expected, _ = at_arrival(state, everywhere, free, arrival_ms, q.min_free)
        d = brute.lot_distances(q)
        ok = (d <= q.radius_m) & brute.usable(q) & (np.round(expected, 1) >= q.min_free)
        want = [lot_id for _, lot_id in sorted((float(d[i]), lots[i].id) for i in np.flatnonzero(ok))]
        assert got == want[: q.limit], q
        moved += got != [lot_id for lot_id, _ in brute.lots_answer(replace(q, forecast_ms=None))]
    assert moved > 10  # the forecasts change answers
