"""The dashboard in a real browser, on a real hub fed through MQTT.

Each test keeps its lots in a Redis database of its own, so the map shows just them. The tests run
against one server flavour (Redis and Mosquitto from PATH where installed): what they check is the
page, which the broker and store under the hub do not change.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser
from redis.asyncio import Redis

from parking_hub.credentials import new_key
from parking_hub.ingest.lag_report import report_lag
from parking_hub.registry import Lot, parse_registry
from parking_hub.store.lots import remove_lots, save_lots
from tests.browser.page import (
    Hue,
    browser,
    hue_is,
    label_faults,
    labels_of,
    lot_on_page,
    open_dashboard,
    screenshot,
    wait_for_hue,
    wait_until,
)
from tests.browser.tile_server import tile_of, tile_server
from tests.integration.hub import Hub, eventually, lot_feature, running_hub, unique, write_registry
from tests.integration.test_skeleton import publish

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("servers", ["path"], indirect=True)]

SEED = Path(__file__).resolve().parents[2] / "seeds" / "qingdao.geojson"
SEED_LOTS = 706
LIVE_WITHIN_S = 1.0  # the bound: the page shows a change the API shows within a second
LAG_SHOWN = r"/^\d\.\d s$/.test(document.getElementById('ingest-lag').textContent)"  # e.g. "0.0 s"
LAG_VALUE_COLOUR = "getComputedStyle(document.querySelector('#lag-stat .value')).color"
AMBER = "rgb(245, 165, 36)"
# Where the page's files and data came from: the hub's origin only, unless a tile server is set.
ORIGINS = "[...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).origin))]"
TILES_DRAWN = "Number(document.getElementById('tiles').dataset.tilesDrawn ?? 0)"
# Every berth of a four-berth lot occupied, then every berth free: the colour the map must turn to.
STEPS: tuple[tuple[int, Hue, tuple[int, int, int]], ...] = ((1, "red", (0, 4, 0)), (0, "green", (4, 0, 0)))


def own_database(redis_url: str, db: int) -> str:
    return f"{redis_url.rpartition('/')[0]}/{db}"


async def load_registry(redis_url: str, registry: bytes) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        await save_lots(redis, parse_registry(registry))
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with browser() as launched:
        yield launched


async def counts(hub: Hub, lot_id: str, key: str) -> tuple[int, int, int] | None:
    async with hub.http.get(f"{hub.base_url}/v1/lots/{lot_id}", headers={"X-API-Key": key}) as resp:
        if resp.status != 200:
            return None
        body = await resp.json()
        return body["free"], body["occupied"], body["unknown"]


async def test_lots_render_and_change_colour_live_with_a_key(
    chromium: Browser, redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    redis_url = own_database(redis_url, 11)
    # Three lots a few hundred metres apart, so each has its own dot at any zoom the page fits.
    ids = [unique("dash") for _ in range(3)]
    features = [lot_feature(lot, 13.40 + 0.004 * k, 52.52, 4) for k, lot in enumerate(ids)]
    await load_registry(redis_url, write_registry(tmp_path / "r.geojson", features).read_bytes())
    # With API keys on, as a city would run it: the page takes its key from the URL's fragment.
    key, line = new_key("dashboard")
    (tmp_path / "keys").write_text(line + "\n")
    async with running_hub(redis_url, mqtt_url, api_keys_file=str(tmp_path / "keys")) as hub:
        assert (await hub.get("/v1/summary"))[0] == 401
        assert await eventually(lambda: counts(hub, ids[2], key), lambda c: c is not None) == (0, 0, 4)
        page = await open_dashboard(chromium, hub.base_url + "/#key=" + key, lots=3)
        assert await page.get_attribute("#map", "data-lots-drawn") == "3"
        for lot in ids:
            assert await hue_is(page, lot, "grey"), lot  # no report yet: no data, never free

        target = ids[1]
        for occupied, hue, expected in STEPS:
            t = time.time_ns() // 1_000_000
            frame = {"berth": [0, 1, 2, 3], "occupied": [occupied] * 4, "ts": [t] * 4}
            await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{target}/events", frame)])
            # Once the API shows the change, the page has a second to show it too.
            assert await eventually(lambda: counts(hub, target, key), expected.__eq__) == expected
            await wait_for_hue(page, target, hue, LIVE_WITHIN_S)
        assert await hue_is(page, ids[0], "grey")

        # Clicking the lot opens its berths: four, all free.
        await page.mouse.click(*await lot_on_page(page, target))
        await wait_until(page, "document.getElementById('berths').dataset.berths === '4'")
        assert await page.text_content("#lot-free") == "4"
        assert await page.text_content("#lot-name") == f"Lot {target}"
        await screenshot(page, "dashboard-three-lots.png")

        # A lot removed from the registry leaves the open page too.
        redis = Redis.from_url(redis_url)
        try:
            assert await remove_lots(redis, [ids[0]]) == [ids[0]]
        finally:
            await redis.aclose()
        await wait_until(page, "document.body.dataset.lots === '2'", within_s=10)
        assert await page.get_attribute("#map", "data-lots-drawn") == "2"
        await page.close()


async def test_a_lot_s_panel_charts_its_free_berths_today_and_the_forecast(
    chromium: Browser, redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    redis_url = own_database(redis_url, 12)
    lot = unique("curve")
    registry = write_registry(tmp_path / "r.geojson", [lot_feature(lot, 13.40, 52.52, 4, heartbeat_s=600)])
    await load_registry(redis_url, registry.read_bytes())
    async with running_hub(redis_url, mqtt_url) as hub:
        # A report every 15 minutes for the last three hours, one more berth free each time round.
        step = 15 * 60_000
        last = time.time_ns() // 1_000_000 // step * step
        frames = []
        for k, t in enumerate(range(last - 12 * step, last + 1, step)):
            free = k % 5
            frames.append({"berth": [0, 1, 2, 3], "occupied": [0] * free + [1] * (4 - free), "ts": [t] * 4})
        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{lot}/events", f) for f in frames])
        assert await eventually(lambda: hub.get(f"/v1/lots/{lot}"), lambda r: r[1]["events_applied"] == 52)
        page = await open_dashboard(chromium, hub.base_url, lots=1)
        await page.mouse.click(*await lot_on_page(page, lot))
        await wait_until(page, "document.getElementById('curve').dataset.forecastPoints === '16'")
        # The page charts what the API gives for today: every point since the browser's midnight.
        midnight = await page.evaluate(
            "() => { const d = new Date(); d.setHours(0, 0, 0, 0); return d.toISOString(); }"
        )
        status, today = await hub.get(f"/v1/lots/{lot}/history", **{"from": midnight, "step": "15m"})
        assert status == 200
        drawn = await page.evaluate("() => document.getElementById('curve').dataset.historyPoints")
        assert drawn == str(len([p for p in today["points"] if p["at"] >= midnight]))
        if today["points"]:
            history_points = await page.get_attribute("#curve-history", "points")
            assert history_points is not None
            assert len(history_points.split()) == len(today["points"])
        band = await page.get_attribute("#curve-band", "points")
        assert band is not None
        assert len(band.split()) == 32
        forecast = await page.get_attribute("#curve-forecast", "points")
        assert forecast is not None
        assert len(forecast.split()) == 16
        assert (await page.text_content("#curve-note") or "").startswith("in 1 h: ")
        await screenshot(page, "dashboard-lot-curve.png")
        await page.close()


async def test_a_lot_closed_now_looks_closed_and_its_panel_shows_its_facts(
    chromium: Browser, redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    redis_url = own_database(redis_url, 13)
    now = datetime.now(UTC)
    # Open for one hour, six hours from now: closed while the test runs (the hub reads it in UTC).
    hours = f"{(now + timedelta(hours=6)):%H:%M}-{(now + timedelta(hours=7)):%H:%M}"
    shut, open_ = unique("shut"), unique("open")
    features = [
        lot_feature(shut, 13.40, 52.52, 4, opening_hours=hours, max_height_m=2.1, access="customers",
                    fee={"currency": "CNY", "per_hour": 8.0, "text": "first hour free"},
                    address="1 Mall Street"),
        lot_feature(open_, 13.404, 52.52, 4, opening_hours="24/7", fee={"per_hour": 0}),
    ]  # fmt: skip
    await load_registry(redis_url, write_registry(tmp_path / "r.geojson", features).read_bytes())
    async with running_hub(redis_url, mqtt_url) as hub:
        t = time.time_ns() // 1_000_000
        frame = {"berth": [0, 1, 2, 3], "occupied": [0] * 4, "ts": [t] * 4}
        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{lot}/events", frame) for lot in (shut, open_)])
        page = await open_dashboard(chromium, hub.base_url, lots=2)
        await wait_for_hue(page, open_, "green", 10.0)  # every berth free
        await wait_for_hue(page, shut, "purple", 10.0)  # every berth free too, but closed
        await page.mouse.click(*await lot_on_page(page, shut))
        await wait_until(page, "document.querySelector('#lot-facts dd[data-fact=open]') !== null")
        facts = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#lot-facts dd')]"
            ".map((dd) => [dd.dataset.fact, dd.textContent]))"
        )
        assert facts == {
            "open": "closed now",
            "hours": hours,
            "height": "2.1 m clearance",
            "access": "customers only",
            "fee": "first hour free",
            "address": "1 Mall Street",
        }
        await screenshot(page, "dashboard-closed-lot.png")
        await page.mouse.click(*await lot_on_page(page, open_))
        await wait_until(
            page, "document.querySelector('#lot-facts dd[data-fact=open]')?.textContent === 'open now'"
        )
        assert await page.text_content("#lot-facts dd[data-fact=fee]") == "free of charge"
        await page.close()


async def test_more_lots_than_one_stream_takes_are_polled_until_zoomed_in(
    chromium: Browser, redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    redis_url = own_database(redis_url, 13)
    side = 46  # 2,116 lots on a grid: more than the 2,000 one stream follows
    ids = [f"grid-{k:04d}" for k in range(side * side)]
    features = [
        lot_feature(lot, 10.0 + 0.01 * (k % side), 50.0 + 0.01 * (k // side), 2) for k, lot in enumerate(ids)
    ]
    await load_registry(redis_url, write_registry(tmp_path / "r.geojson", features).read_bytes())
    async with running_hub(redis_url, mqtt_url) as hub:
        await eventually(lambda: hub.get(f"/v1/lots/{ids[-1]}"), lambda r: r[0] == 200)
        page = await open_dashboard(chromium, hub.base_url + "/", lots=len(ids))
        await wait_until(page, "document.getElementById('feed-state').textContent === 'polling'")
        # While polling, a change still reaches the map, within a refresh period or so.
        centre = ids[side * (side // 2) + side // 2]
        t = time.time_ns() // 1_000_000
        frame = {"berth": [0, 1], "occupied": [1, 1], "ts": [t, t]}
        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{centre}/events", frame)])
        await wait_for_hue(page, centre, "red", within_s=20)
        # Zoomed in on the centre, the view holds a few hundred lots: one stream follows them.
        await page.mouse.move(*await lot_on_page(page, centre))
        for _ in range(3):
            await page.mouse.wheel(0, -300)
        await wait_until(page, "document.getElementById('feed-state').textContent === 'live'")
        drawn = int(await page.get_attribute("#map", "data-lots-drawn") or 0)
        assert 0 < drawn <= 2000
        await page.close()


def resync_frames(prefix: str, lots: list[Lot], rng: random.Random, now: int) -> list[tuple[str, Any]]:
    """Every berth of every lot, as a gateway's resync sends it: most lots half full, a few nearly full."""
    frames = []
    for lot in lots:
        busy = rng.choice((0.3, 0.5, 0.6, 0.7, 0.85, 0.97))
        berths = list(range(lot.capacity))
        occupied = [int(rng.random() < busy) for _ in berths]
        frames.append(
            (
                f"{prefix}/v1/lots/{lot.id}/events",
                {"berth": berths, "occupied": occupied, "ts": [now] * len(berths)},
            )
        )
    return frames


async def traffic(mqtt_url: str, prefix: str, lots: list[Lot], rng: random.Random) -> None:
    """Arrivals and departures at random lots, a few hundred events a second, until cancelled."""
    while True:
        now = time.time_ns() // 1_000_000
        frames = []
        for lot in rng.sample(lots, 20):
            berths = rng.sample(range(lot.capacity), min(10, lot.capacity))
            frame = {
                "berth": berths,
                "occupied": [rng.randint(0, 1) for _ in berths],
                "ts": [now] * len(berths),
            }
            frames.append((f"{prefix}/v1/lots/{lot.id}/events", frame))
        await publish(mqtt_url, frames)
        await asyncio.sleep(0.3)


async def test_the_seed_city_live(chromium: Browser, redis_url: str, mqtt_url: str) -> None:
    redis_url = own_database(redis_url, 12)
    lots = list(parse_registry(SEED.read_bytes()))
    await load_registry(redis_url, SEED.read_bytes())
    rng = random.Random(7)
    async with running_hub(redis_url, mqtt_url) as hub:

        async def summary() -> dict[str, Any]:
            return (await hub.get("/v1/summary"))[1]  # type: ignore[no-any-return]

        await eventually(summary, lambda s: s.get("lots") == SEED_LOTS)
        await publish(mqtt_url, resync_frames(hub.prefix, lots, rng, time.time_ns() // 1_000_000))
        body = await eventually(summary, lambda s: s["unknown"] == 0, within=60)
        assert body["unknown"] == 0, body
        async with asyncio.TaskGroup() as background:
            sending = background.create_task(traffic(mqtt_url, hub.prefix, lots, rng))
            page = await open_dashboard(chromium, hub.base_url + "/", lots=SEED_LOTS)
            assert await page.get_attribute("#map", "data-lots-drawn") == str(SEED_LOTS)
            assert await page.text_content("#total-lots") == "706"
            assert await page.text_content("#total-berths") == "188,000"
            # Traffic keeps coming: the header shows a rate, the newest event's age and a live stream.
            await wait_until(
                page,
                "Number(document.getElementById('ingest-rate').textContent.replace(/[,k]/g, '')) > 0",
                within_s=20,
            )
            assert await page.text_content("#feed-state") == "live"
            assert (await page.text_content("#fresh-age") or "").endswith(("s", "min"))
            await wait_until(page, LAG_SHOWN, within_s=10)
            await screenshot(page, "dashboard-seed-city.png")
            # No street map unless the operator names one: nothing is fetched from another host.
            assert await page.evaluate(ORIGINS) == [hub.base_url]
            assert await page.is_hidden("#tiles")
            assert await label_faults(page, [lot.id for lot in lots]) == []
            assert {"SHINAN", "SHIBEI", "LICANG", "LAOSHAN"} <= set(await labels_of(page, "district"))

            # Zoom into the old town and open one of its big car parks.
            await page.mouse.move(*await lot_on_page(page, "qd-0001"))
            for _ in range(4):
                await page.mouse.wheel(0, -300)
            await page.mouse.click(*await lot_on_page(page, "qd-0001"))
            capacity = str((await hub.get("/v1/lots/qd-0001"))[1]["capacity"])
            await wait_until(
                page, "n => document.getElementById('berths').dataset.berths === n", capacity, within_s=10
            )
            await screenshot(page, "dashboard-seed-city-old-town.png")
            assert await label_faults(page, [lot.id for lot in lots]) == []
            assert await labels_of(page, "degrees")  # the graticule is still labelled, where it is free
            await page.close()
            sending.cancel()


async def test_the_seed_city_on_a_street_map(chromium: Browser, redis_url: str, mqtt_url: str) -> None:
    redis_url = own_database(redis_url, 15)
    lots = list(parse_registry(SEED.read_bytes()))
    ids = [lot.id for lot in lots]
    await load_registry(redis_url, SEED.read_bytes())
    async with (
        tile_server() as tiles,
        running_hub(redis_url, mqtt_url, map_tiles=tiles.url, map_attribution="© test tiles") as hub,
    ):
        async with hub.http.get(hub.base_url + "/") as resp:
            policy = resp.headers["Content-Security-Policy"]
        assert f"img-src 'self' data: {tiles.origin};" in policy  # that origin, and no other
        await eventually(lambda: hub.get("/v1/summary"), lambda r: r[1].get("lots") == SEED_LOTS)
        await publish(
            mqtt_url, resync_frames(hub.prefix, lots, random.Random(7), time.time_ns() // 1_000_000)
        )
        page = await open_dashboard(chromium, hub.base_url + "/", lots=SEED_LOTS)
        await wait_until(page, f"{TILES_DRAWN} > 0")
        # Web Mercator tiles, at the one level the map's scale calls for: the tile under a lot among them.
        qd1 = next(lot for lot in lots if lot.id == "qd-0001")
        levels = {z for z, _, _ in tiles.served}
        assert len(levels) == 1, levels
        z = levels.pop()
        under_qd1 = (z, *tile_of(qd1.lon, qd1.lat, z))

        async def served() -> bool:  # tiles come in one by one: the page asks for them as it draws
            return under_qd1 in tiles.served

        await eventually(served, bool)
        assert sorted(await page.evaluate(ORIGINS)) == sorted([hub.base_url, tiles.origin])
        assert await page.text_content("#attribution") == "© test tiles"
        assert await label_faults(page, ids) == []
        await screenshot(page, "dashboard-street-map.png")

        # Zoomed in, deeper tiles come, and the labels still keep clear.
        await page.mouse.move(*await lot_on_page(page, "qd-0001"))
        for _ in range(4):
            await page.mouse.wheel(0, -300)

        async def deepest() -> int:
            return max(level for level, _, _ in tiles.served)

        assert await eventually(deepest, lambda level: level > z) > z
        assert await label_faults(page, ids) == []
        await screenshot(page, "dashboard-street-map-old-town.png")
        await page.close()


async def test_the_header_shows_ingest_lag_and_warns_past_the_readiness_limit(
    chromium: Browser, redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    redis_url = own_database(redis_url, 14)
    lot = unique("lag")
    await load_registry(
        redis_url, write_registry(tmp_path / "r.geojson", [lot_feature(lot, 13.4, 52.5, 4)]).read_bytes()
    )
    async with running_hub(redis_url, mqtt_url) as hub:
        page = await open_dashboard(chromium, hub.base_url + "/", lots=1)
        await wait_until(page, LAG_SHOWN, within_s=10)  # the hub's own ingest
        assert await page.text_content("#lag-note") == "1 ingest process"
        assert await page.evaluate(LAG_VALUE_COLOUR) != AMBER

        # A second ingest process, 12 s behind: the city is as far behind as its slowest process.
        redis = Redis.from_url(redis_url)
        async with asyncio.TaskGroup() as background:
            behind = background.create_task(report_lag(redis, unique("behind"), lambda: 12.0))
            await wait_until(
                page, "document.getElementById('ingest-lag').textContent === '12 s'", within_s=10
            )
            assert await page.evaluate(LAG_VALUE_COLOUR) == AMBER
            assert await page.text_content("#lag-note") == "2 ingest processes"
            await screenshot(page, "dashboard-ingest-lag.png")
            behind.cancel()
        await redis.aclose()
        await page.close()
