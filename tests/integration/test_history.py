"""History in event time and forecasts (contract 7.3): reports in through MQTT, answers over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from parking_hub.api.rendering import iso
from parking_hub.api.schemas import ErrorBody, LotForecast, LotHistory
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.formats import Decoded
from parking_hub.store import history, redis_keys
from parking_hub.store.apply import StateWriter
from parking_hub.store.layout import Layout
from tests.integration.hub import (
    Hub,
    lot_feature,
    redis_client,
    running_hub,
    store_registry,
    unique,
    write_registry,
)
from tests.integration.test_skeleton import publish, wait_applied

pytestmark = pytest.mark.integration

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
DAY_MS = 24 * HOUR_MS


class Lots:
    def __init__(self, hub: Hub, sparse: str, daily: str, t0: int, daily_now: int) -> None:
        self.hub, self.sparse, self.daily, self.t0, self.daily_now = hub, sparse, daily, t0, daily_now

    def at(self, minutes: int) -> str | None:
        return iso(self.t0 + minutes * MIN_MS)


def day_pattern(at_ms: int) -> int:
    """The daily lot's berths occupied: all 4 from 08:00 to 20:00 UTC, none otherwise."""
    return 4 if 8 <= at_ms % DAY_MS // HOUR_MS < 20 else 0


def frame(ts: int, occupied: list[int]) -> dict[str, Any]:
    return {"berth": list(range(len(occupied))), "occupied": occupied, "ts": [ts] * len(occupied)}


@pytest.fixture(scope="module")
async def lots(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lots]:
    """A sparse lot replayed two days back, and a lot with 16 days of a strict daily pattern up to now."""
    redis_url, mqtt_url = servers
    sparse, daily = unique("hs"), unique("hd")
    features = [
        lot_feature(sparse, 120.38, 36.06, 4, heartbeat_s=600),  # a report is stale after 30 minutes
        lot_feature(daily, 120.39, 36.07, 4, heartbeat_s=600),
    ]
    path = write_registry(tmp_path_factory.mktemp("history") / "city.geojson", features)
    await store_registry(redis_url, path)
    async with running_hub(redis_url, mqtt_url) as hub:
        topic = f"{hub.prefix}/v1/lots/{{}}/events"
        now = time.time_ns() // 1_000_000
        t0 = (now - 2 * DAY_MS) // HOUR_MS * HOUR_MS
        replay = [
            frame(t0 + 10_000, [1, 1, 0, 0]),
            {"berth": [2], "occupied": [1], "ts": [t0 + 20 * MIN_MS]},
            {"berth": [3], "occupied": [1], "ts": [t0 + 60 * MIN_MS]},
        ]
        for n, body in enumerate(replay):
            await publish(mqtt_url, [(topic.format(sparse), body)])
            await wait_applied(hub, sparse, [4, 5, 6][n])
        step = 15 * MIN_MS
        last = now // step * step
        times = range(last - 16 * DAY_MS, last + 1, step)
        pattern = [
            (topic.format(daily), frame(t, [1] * day_pattern(t) + [0] * (4 - day_pattern(t)))) for t in times
        ]
        await publish(mqtt_url, pattern)
        await wait_applied(hub, daily, 4 * len(times))
        yield Lots(hub, sparse, daily, t0, last)


def points(body: dict[str, Any]) -> list[tuple[str, float, float, float]]:
    return [(p["at"], p["free"], p["occupied"], p["unknown"]) for p in body["points"]]


async def test_history_samples_each_5_minutes_of_event_time_with_staleness(lots: Lots) -> None:
    at = lots.at
    status, body = await lots.hub.get(
        f"/v1/lots/{lots.sparse}/history", **{"from": at(0), "to": at(65), "step": "5m"}
    )
    assert status == 200, body
    LotHistory.model_validate(body)
    assert body["step_s"] == 300
    # Boundaries 5..15: berth 2's report at 20 is not yet in force. 35 on: the reports at 0:10 are
    # over 30 minutes old, so unknown; at 55 berth 2's too; at 60 berth 3 reports again.
    expected = [(5, 2, 2, 0), (10, 2, 2, 0), (15, 2, 2, 0), (20, 1, 3, 0), (25, 1, 3, 0), (30, 1, 3, 0)]
    expected += [(35, 0, 1, 3), (40, 0, 1, 3), (45, 0, 1, 3), (50, 0, 1, 3), (55, 0, 0, 4), (60, 0, 1, 3)]
    assert points(body) == [(at(m), f, o, u) for m, f, o, u in expected]


async def test_history_means_per_step_from_15_minute_samples(lots: Lots) -> None:
    at = lots.at
    path = f"/v1/lots/{lots.sparse}/history"
    status, quarter = await lots.hub.get(path, **{"from": at(0), "to": at(75), "step": "15m"})
    assert status == 200
    assert points(quarter) == [(at(15), 2, 2, 0), (at(30), 1, 3, 0), (at(45), 0, 1, 3), (at(60), 0, 1, 3)]
    status, hourly = await lots.hub.get(path, **{"from": at(0), "to": at(120), "step": "1h"})
    assert status == 200
    assert hourly["step_s"] == 3600
    assert points(hourly) == [(at(0), 1.0, 2.0, 1.0), (at(60), 0, 1, 3)]


@pytest.mark.parametrize(
    ("query", "param", "message"),
    [
        ({"step": "2m"}, "step", "step must be one of 5m, 15m or 1h"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from", "from must be before to"),
        ({"from": "2026-01-01T00:00:00"}, "from", "from is not valid"),
        ({"from": "yesterday"}, "from", "from is not valid"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to", "more than 6000 steps"),
        ({"since": "2026-01-01T00:00:00Z"}, "since", "since is not a parameter of this endpoint"),
    ],
)
async def test_history_refuses_bad_parameters(
    lots: Lots, query: dict[str, str], param: str, message: str
) -> None:
    status, body = await lots.hub.get(f"/v1/lots/{lots.sparse}/history", **query)
    assert status == 400, body
    ErrorBody.model_validate(body)
    assert body["error"]["param"] == param
    assert message in body["error"]["message"]


@pytest.mark.parametrize(
    ("horizons", "message"),
    [
        ("0", "between 1 and 240"),
        ("241", "between 1 and 240"),
        ("15,15", "names a horizon twice"),
        ("15,abc", "horizons is not valid"),
        ("", "horizons is not valid"),
    ],
)
async def test_forecast_refuses_bad_horizons(lots: Lots, horizons: str, message: str) -> None:
    status, body = await lots.hub.get(f"/v1/lots/{lots.daily}/forecast", horizons=horizons)
    assert status == 400, body
    assert body["error"]["param"] == "horizons"
    assert message in body["error"]["message"]


async def test_history_and_forecast_of_an_unknown_lot_are_404(lots: Lots) -> None:
    for path in ("history", "forecast"):
        status, body = await lots.hub.get(f"/v1/lots/{unique('none')}/{path}")
        assert status == 404, body


async def test_forecast_without_enough_history_is_the_present_count_within_capacity(lots: Lots) -> None:
    status, body = await lots.hub.get(f"/v1/lots/{lots.sparse}/forecast", horizons="15,60")
    assert status == 200, body
    LotForecast.model_validate(body)
    # The sparse lot's reports are two days old: every berth is unknown now, so none is free.
    assert [(p["free"], p["low"], p["high"]) for p in body["forecast"]] == [(0, 0, 4), (0, 0, 4)]


async def test_forecast_follows_a_lot_s_daily_pattern_with_a_tight_interval(lots: Lots) -> None:
    horizons = list(range(15, 241, 15))
    status, body = await lots.hub.get(
        f"/v1/lots/{lots.daily}/forecast", horizons=",".join(map(str, horizons))
    )
    assert status == 200, body
    LotForecast.model_validate(body)
    as_of = np.datetime64(body["as_of"].rstrip("Z"), "ms").astype(np.int64)
    checked = 0
    for h, point in zip(horizons, body["forecast"], strict=True):
        target = int(as_of) + h * MIN_MS
        assert point["at"] == iso(target)
        # Only where the last sample and the target are both clear of a change of the pattern.
        near_change = {day_pattern(target + d * MIN_MS) for d in (-16, 0, 16)}
        if len(near_change) == 1 and day_pattern(lots.daily_now) == day_pattern(int(as_of)):
            expected = 4 - day_pattern(target)
            assert (point["free"], point["low"], point["high"]) == (expected, expected, expected), point
            checked += 1
    assert checked >= 10


async def test_history_fits_16_kib_per_lot_for_8_weeks_and_stays_that_size(redis_url: str) -> None:
    """Eight weeks and more of event time through the ingest writer: both rings full, then measured."""
    lot, capacity = unique("hm"), 1000
    layout = Layout.build({lot: capacity}, {lot: 3600})
    redis = redis_client(redis_url)
    try:
        writer = StateWriter(redis)
        start = (time.time_ns() // 1_000_000 - 9 * 7 * DAY_MS) // HOUR_MS * HOUR_MS
        end = start + 9 * 7 * DAY_MS
        occupied = np.random.default_rng(7).integers(0, 2, capacity)
        # Two hours step by step first: a ring grown piecemeal is where Redis over-allocates.
        for ts in (*range(start, start + 2 * HOUR_MS + 1, 5 * MIN_MS), end - HOUR_MS, end):
            builder = BatchBuilder()
            builder.add(Decoded(lot, np.arange(capacity), ts * 2 + occupied))
            await writer.write(builder.build(layout))
        used = 0
        rings = {}
        for ring in history.RINGS:
            key = redis_keys.history(lot, ring.name)
            used += int(await redis.memory_usage(key) or 0)
            raw = await redis.get(key)
            assert isinstance(raw, bytes)
            rings[ring] = samples = history.decode(raw, ring, capacity)
            assert len(samples.at) == ring.slots
            assert (np.diff(samples.at) == ring.step_s).all()
            assert samples.at[-1] == end // 1000
            assert 0 < await redis.ttl(key) <= history.RETAIN_S
        assert used <= 16 * 1024, used
        # Counts survive the scaling of a lot larger than a field holds, within half a unit.
        last = rings[history.FINE]
        assert abs(last.occupied[-1] - occupied.sum()) <= capacity / history.SCALE / 2
        assert abs(last.known[-1] - capacity) <= capacity / history.SCALE / 2
        # Between the first reports going stale and the next ones, every berth was unknown.
        assert (rings[history.COARSE].known[:-5] == 0).all()
    finally:
        await redis.aclose()


async def test_a_write_that_passes_boundaries_samples_each_lot_as_its_reports_say(redis_url: str) -> None:
    """Many lots in one batch, most passing one boundary and a few passing several: each sample
    is the lot's greatest report per berth up to the boundary, counted with staleness."""
    rng = np.random.default_rng(11)
    lots = {unique(f"hb{i}"): int(rng.integers(1, 60)) for i in range(40)}
    heartbeat = {lot: int(rng.choice([60, 600, 3600])) for lot in lots}
    layout = Layout.build(lots, heartbeat)
    boundary = (time.time_ns() // 1_000_000 - 2 * HOUR_MS) // (5 * MIN_MS) * (5 * MIN_MS)
    stored: dict[str, np.ndarray] = {lot: np.zeros(cap, dtype=np.int64) for lot, cap in lots.items()}

    def batch(earliest: int, latest: dict[str, int]) -> list[tuple[str, np.ndarray, np.ndarray]]:
        out = []
        for lot, cap in lots.items():
            n = int(rng.integers(1, 2 * cap))
            berths = rng.integers(0, cap, n)
            ranks = rng.integers(earliest, latest[lot], n) * 2 + rng.integers(0, 2, n)
            ranks[-1] = (latest[lot] - 1) * 2  # the lot's clock reaches its latest
            out.append((lot, berths, ranks))
        return out

    async def write(writer: StateWriter, reports: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        builder = BatchBuilder()
        for lot, berths, ranks in reports:
            builder.add(Decoded(lot, berths, ranks))
            np.maximum.at(stored[lot], berths, ranks)
        await writer.write(builder.build(layout))

    redis = redis_client(redis_url)
    try:
        writer = StateWriter(redis)
        await write(writer, batch(boundary - 40 * MIN_MS, {lot: boundary - MIN_MS for lot in lots}))
        before = {lot: ranks.copy() for lot, ranks in stored.items()}
        several = set(list(lots)[:5])  # these pass the boundary and three more
        latest = {lot: boundary + (16 if lot in several else 4) * MIN_MS for lot in lots}
        second = batch(boundary - 5 * MIN_MS, latest)
        await write(writer, second)
        for lot, berths, ranks in second:
            raw = await redis.get(redis_keys.history(lot, history.FINE.name))
            assert isinstance(raw, bytes)
            samples = history.decode(raw, history.FINE, lots[lot])
            marks = [boundary + k * 5 * MIN_MS for k in range(4 if lot in several else 1)]
            assert samples.at.tolist() == [m // 1000 for m in marks]
            for k, mark in enumerate(marks):
                state = before[lot].copy()
                upto = ranks // 2 <= mark
                np.maximum.at(state, berths[upto], ranks[upto])
                known = (state > 0) & (state // 2 >= mark - 3000 * heartbeat[lot])
                want = (int((known & (state % 2 == 1)).sum()), int(known.sum()))
                assert (samples.occupied[k], samples.known[k]) == want, (lot, k)
    finally:
        await redis.aclose()
