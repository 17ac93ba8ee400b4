"""The nearest search equals a brute-force haversine answer over the same state."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex
from parking_hub.query.nearest import EARTH_RADIUS_M, NearestQuery, haversine_m, nearest_lots
from parking_hub.registry import Lot

NOW = 1_764_201_600_000


def brute_haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def city(rng: random.Random, n: int, centre: tuple[float, float], spread: float) -> list[Lot]:
    lots = []
    for i in range(n):
        capacity = rng.randint(1, 40)
        ev = tuple(sorted(rng.sample(range(capacity), k=rng.randint(0, min(3, capacity)))))
        lots.append(
            Lot(
                id=f"lot-{i:04d}",
                name=f"Lot {i}",
                operator="op",
                kind=rng.choice(("off_street", "on_street")),
                capacity=capacity,
                lat=max(-85.0, min(85.0, centre[0] + rng.uniform(-spread, spread))),
                lon=(centre[1] + rng.uniform(-spread, spread) + 180) % 360 - 180,
                heartbeat_s=rng.choice((60, 3600)),
                features={"ev": ev} if ev else {},
            )
        )
    # Two lots at the same point: ties are broken by lot id.
    twin = lots[0]
    lots.append(Lot(**{**{f: getattr(twin, f) for f in twin.__slots__}, "id": "lot-0000-twin"}))
    return lots


def random_state(rng: random.Random, lots: list[Lot]) -> Availability:
    state = Availability(CityIndex.build(lots))
    b = state.index.berth_count
    np_rng = np.random.default_rng(rng.randint(0, 2**32))
    ts = NOW - np_rng.integers(0, 4 * 3600 * 1000, size=b)
    state.ranks[:] = np.where(np_rng.random(b) < 0.1, 0, ts * 2 + np_rng.integers(0, 2, size=b))
    state.status_rank[:] = np.where(np_rng.random(len(lots)) < 0.1, NOW * 2, 0)  # a few lots offline
    state.tick(NOW)
    return state


def expected(state: Availability, q: NearestQuery) -> list[tuple[str, float]]:
    rows = []
    for i, lot in enumerate(state.index.lots):
        d = brute_haversine(q.lat, q.lon, lot.lat, lot.lon)
        if d > q.radius_m or (q.kind and lot.kind != q.kind):
            continue
        free = 0
        online = state.status_rank[i] == 0 or state.status_rank[i] % 2 == 1
        for berth in range(lot.capacity):
            rank = int(state.ranks[state.index.offsets[i] + berth])
            fresh = rank > 0 and NOW - (rank >> 1) <= 3 * lot.heartbeat_s * 1000
            has = all(berth in lot.features.get(f, ()) for f in q.features)
            free += online and fresh and rank % 2 == 0 and has
        if free >= q.min_free:
            rows.append((d, lot.id))
    rows.sort()
    return [(lot_id, d) for d, lot_id in rows[: q.limit]]


@pytest.mark.parametrize(
    ("seed", "centre", "spread"),
    [
        (1, (36.07, 120.38), 0.05),
        (2, (36.07, 120.38), 0.3),
        (3, (0.0, 179.99), 0.05),
        (4, (84.9, 10.0), 0.05),
    ],
)
def test_nearest_matches_brute_force(seed: int, centre: tuple[float, float], spread: float) -> None:
    rng = random.Random(seed)
    lots = city(rng, 400, centre, spread)
    state = random_state(rng, lots)
    for _ in range(250):
        q = NearestQuery(
            lat=max(-85.0, min(85.0, centre[0] + rng.uniform(-spread, spread))),
            lon=(centre[1] + rng.uniform(-spread, spread) + 180) % 360 - 180,
            limit=rng.randint(1, 50),
            radius_m=rng.choice((50.0, 500.0, 2000.0, 10_000.0, 50_000.0)),
            min_free=rng.randint(1, 5),
            features=rng.choice(((), ("ev",))),
            kind=rng.choice((None, "off_street", "on_street")),
        )
        got = [(state.index.lots[h.position].id, h.distance_m) for h in nearest_lots(state, q)]
        want = expected(state, q)
        assert [g[0] for g in got] == [w[0] for w in want], q
        for (_, d_got), (_, d_want) in zip(got, want, strict=True):
            assert abs(d_got - d_want) <= max(1.0, d_want * 0.001)


def test_haversine_known_distance() -> None:
    # One degree of latitude along a meridian is R * pi / 180.
    d = haversine_m(0.0, 0.0, np.array([1.0]), np.array([0.0]))[0]
    assert d == pytest.approx(EARTH_RADIUS_M * math.pi / 180, rel=1e-12)
