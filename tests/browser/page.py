"""Driving the dashboard in Debian's chromium through Playwright: the browser, and what the page shows."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VIEWPORT = ViewportSize(width=1600, height=900)
Hue = Literal["red", "green", "grey", "purple"]

# The colour under a lot's centre, read from the map canvas, sorted into the hue a person would name.
_HUE_AT_LOT = """([id, hue]) => {
  const point = window.parkingDashboard?.pointOf(id);
  if (!point) return false;
  const canvas = document.getElementById("map");
  const dpr = canvas.width / canvas.clientWidth;
  const [r, g, b] = canvas.getContext("2d")
    .getImageData(Math.round(point[0] * dpr), Math.round(point[1] * dpr), 1, 1).data;
  if (hue === "red") return r > 170 && g < 110 && b < 110;
  if (hue === "green") return g > 120 && g > r + 50 && g > b + 30;
  if (hue === "purple") return b > 80 && b > r + 20 && r > g + 5;  // a lot closed now
  return Math.abs(r - g) < 30 && Math.abs(g - b) < 40 && b > 40;
}"""


# What is wrong with the map's labels: one over another, over a lot's dot (district names), or not
# wholly on the map, which ends at the side panel and has its controls and legend laid over it.
_LABEL_FAULTS = """(ids) => {
  const canvas = document.getElementById("map");
  const here = canvas.getBoundingClientRect();
  const labels = window.parkingDashboard.labels();
  const covers = [...document.querySelectorAll(".map-controls, .legend, #attribution:not([hidden]), #panel")]
    .map((el) => el.getBoundingClientRect())
    .map((r) => ({ left: r.left - here.left, top: r.top - here.top, right: r.right - here.left,
                   bottom: r.bottom - here.top }));
  const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const dots = ids.map((id) => window.parkingDashboard.pointOf(id));
  const faults = [];
  labels.forEach((a, i) => {
    const inside = a.left >= 0 && a.top >= 0 && a.right <= here.width && a.bottom <= here.height;
    if (!inside) faults.push(`${a.text} is cut`);
    if (covers.some((c) => overlap(a, c))) faults.push(`${a.text} is covered`);
    for (const b of labels.slice(i + 1)) if (overlap(a, b)) faults.push(`${a.text} overlaps ${b.text}`);
    if (a.kind !== "district") return;
    // A dot reaches at least 3 pixels from its centre (the map draws no smaller under 5,000 lots).
    const near = dots.filter(
      ([x, y]) => x > a.left - 3 && x < a.right + 3 && y > a.top - 3 && y < a.bottom + 3);
    if (near.length) faults.push(`${a.text} covers ${near.length} lots`);
  });
  return faults;
}"""


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("the browser tests need Debian's chromium: apt-get install chromium (CI installs it)")
    return found


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path())
        try:
            yield launched
        finally:
            await launched.close()


async def open_dashboard(chromium: Browser, url: str, lots: int) -> Page:
    """The dashboard at url once it has drawn `lots` lots; page errors fail the test that opened it."""
    page = await chromium.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The page's own Content-Security-Policy must never have to refuse anything it does.
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    await page.goto(url)
    # `map` in the check below is the canvas: the page keeps its own names out of the global scope.
    try:
        await wait_until(
            page, "n => document.body.dataset.lots === String(n) && Number(map.dataset.lotsDrawn) > 0", lots
        )
    finally:
        assert errors == []
    return page


async def lot_on_page(page: Page, lot_id: str) -> tuple[float, float]:
    """Where the lot's dot is, in page coordinates (for the mouse)."""
    x, y = await page.evaluate("id => window.parkingDashboard.pointOf(id)", lot_id)
    box = await page.locator("#map").bounding_box()
    assert box is not None
    return box["x"] + x, box["y"] + y


async def wait_until(page: Page, expression: str, arg: Any = None, within_s: float = 30.0) -> None:
    """Polls `expression` until it is true. Playwright's wait_for_function would compile it inside the
    page, which the dashboard's Content-Security-Policy (no eval) refuses; evaluate is exempt."""
    deadline = time.monotonic() + within_s
    while not await page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {within_s} s: {expression}")
        await asyncio.sleep(0.1)


async def wait_for_hue(page: Page, lot_id: str, hue: Hue, within_s: float) -> None:
    await wait_until(page, _HUE_AT_LOT, [lot_id, hue], within_s)


async def hue_is(page: Page, lot_id: str, hue: Hue) -> bool:
    return bool(await page.evaluate(_HUE_AT_LOT, [lot_id, hue]))


async def label_faults(page: Page, lot_ids: list[str]) -> list[str]:
    return list(await page.evaluate(_LABEL_FAULTS, lot_ids))


async def labels_of(page: Page, kind: str) -> list[str]:
    return list(
        await page.evaluate(
            "k => window.parkingDashboard.labels().filter(l => l.kind === k).map(l => l.text)", kind
        )
    )


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=path)
    print(f"screenshot: {path}")
    return path
