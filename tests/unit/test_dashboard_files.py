"""The dashboard's files: served from the package, every file the page asks for exists, and nothing else."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from parking_hub.api.dashboard import assets
from tests.unit.test_openapi import app

TYPES = {"js": "text/javascript", "css": "text/css", "json": "application/json"}


def referenced() -> set[str]:
    """Every file the page and its modules name: <script>/<link> in the page, imports and fetches in JS."""
    names = set()
    for name, asset in assets().items():
        text = asset.body.decode()
        names |= set(re.findall(r'"/static/([^"]+)"', text))
        if name.endswith(".js"):
            names |= set(re.findall(r'from "\./([^"]+)"', text))
    return names


def test_the_page_names_only_files_that_ship() -> None:
    names = referenced()
    assert {"dashboard.js", "dashboard.css", "districts.json", "map.js", "feed.js", "panel.js"} <= names
    assert names <= set(assets())


async def test_page_and_files_are_served_and_revalidated() -> None:
    async with TestClient(TestServer(app(serve_api=True))) as client:
        resp = await client.get("/")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert '<canvas id="map"' in await resp.text()
        resp = await client.get("/", headers={"If-None-Match": resp.headers["ETag"]})
        assert resp.status == 304
        for name in sorted(referenced()):
            resp = await client.get(f"/static/{name}")
            assert resp.status == 200, name
            assert resp.headers["Content-Type"].startswith(TYPES[name.rpartition(".")[2]]), name
            assert resp.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/static/nothing.js", 404, "not_found"),
        ("/static/index.html", 400, "invalid_parameter"),  # the page itself is served at / only
        ("/static/..%2Fdashboard.py", 400, "invalid_parameter"),
        ("/static/dashboard.exe", 400, "invalid_parameter"),
    ],
)
async def test_other_names_get_an_error_body(path: str, status: int, code: str) -> None:
    async with TestClient(TestServer(app(serve_api=True))) as client:
        resp = await client.get(path)
        assert resp.status == status, path
        assert (await resp.json())["error"]["code"] == code


async def test_a_process_without_the_api_serves_no_dashboard() -> None:
    async with TestClient(TestServer(app(serve_api=False))) as client:
        assert (await client.get("/")).status == 404
