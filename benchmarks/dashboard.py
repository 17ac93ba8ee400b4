"""The dashboard with a big city: how long the page takes to load every lot, and to draw a frame.

    python -m benchmarks.dashboard            # 50,000 lots, 2,000,000 berths
    python -m benchmarks.dashboard --quick    # 2,000 lots, 200,000 berths

Writes the simulator's city, loads it into a private Redis with every berth's state already set
(as in benchmarks.query), runs an API hub, and opens the dashboard in Debian's chromium. Prints
one JSON line: the time from opening the page to every lot loaded, the time one frame of the map
takes to draw (at the whole-city view and zoomed in), and how the page follows the lots in view
(one stream while it holds at most 2,000 of them, else a refresh every few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from playwright.async_api import Page, ViewportSize, async_playwright

from benchmarks.query import fill_state, process, serves_city, wait_until, write_city
from parking_hub.embedded import free_port, redis_server

FRAMES = 20
SETTLE_MS = 3000  # after the view stops moving, for the page to pick its feed and connect


def say(message: str) -> None:
    print(f"[benchmarks.dashboard] {message}", file=sys.stderr, flush=True)


NEXT_FRAME = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


async def frames(page: Page, clicks: tuple[str, str]) -> dict[str, float]:
    """FRAMES redraws, each after a click on a map control (alternating the two given): the time the
    map's draw call took in JavaScript, and the time from the click to the frame after the redraw,
    which includes the browser rasterising the canvas."""
    draw, painted = [], []
    for k in range(FRAMES):
        started = time.monotonic()
        await page.click(f"#{clicks[k % 2]}")
        await page.evaluate(NEXT_FRAME)
        painted.append((time.monotonic() - started) * 1000)
        draw.append(float(await page.get_attribute("#map", "data-draw-ms") or "nan"))
    return {
        "draw_median_ms": round(statistics.median(draw), 1),
        "draw_max_ms": round(max(draw), 1),
        "click_to_frame_median_ms": round(statistics.median(painted), 1),
        "click_to_frame_max_ms": round(max(painted), 1),
    }


async def measure(base: str, lots: int) -> dict[str, Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        page = await browser.new_page(viewport=ViewportSize(width=1600, height=900))
        started = time.monotonic()
        await page.goto(base + "/")
        await page.wait_for_function(f"document.body.dataset.lots === '{lots}'", timeout=300_000)
        loaded_s = time.monotonic() - started
        await page.wait_for_timeout(1000)
        whole = await frames(page, ("zoom-in", "zoom-fit"))
        await page.wait_for_timeout(SETTLE_MS)
        feed_whole = await page.text_content("#feed-state")
        # Zoomed in three times (an eighth of the width): the draw skips lots out of view.
        for _ in range(3):
            await page.click("#zoom-in")
        await page.wait_for_timeout(2000)
        zoomed = await frames(page, ("zoom-in", "zoom-out"))
        await page.wait_for_timeout(SETTLE_MS)
        result = {
            "lots": lots,
            "page_load_s": round(loaded_s, 2),
            "whole_city": whole | {"feed": feed_whole},
            "zoomed_in": zoomed
            | {
                "lots_drawn": int(await page.get_attribute("#map", "data-lots-drawn") or 0),
                "feed": await page.text_content("#feed-state"),
            },
        }
        await browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 lots, 200,000 berths")
    args = parser.parse_args()
    lots, berths = (2_000, 200_000) if args.quick else (50_000, 2_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url:
            say(f"writing and loading a city of {lots:,} lots and {berths:,} berths")
            city = workdir / "city.geojson"
            write_city(city, lots, berths, redis_url)
            asyncio.run(fill_state(redis_url, orjson.loads(city.read_bytes())["features"]))
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            serve = ["serve", "--role", "api", "--redis-url", redis_url, "--http", f"127.0.0.1:{port}"]
            with process([sys.executable, "-m", "parking_hub", *serve], workdir / "hub.log"):
                wait_until(functools.partial(serves_city, base, lots), "the hub to load the city")
                say("opening the dashboard")
                print(json.dumps(asyncio.run(measure(base, lots))), flush=True)


if __name__ == "__main__":
    main()
