"""The dashboard's street map: the setting, the page that carries it, the policy that lets its tiles in."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from parking_hub.api.app import create_app
from parking_hub.config import SettingError, build_settings
from parking_hub.map_tiles import MapTiles
from parking_hub.observe import Health
from parking_hub.query.live import LiveCity

URL = "https://tile.example.org:8443/osm/{z}/{x}/{y}.png"


def test_no_street_map_by_default() -> None:
    assert build_settings({}).map_tiles is None


def test_a_tile_url_and_its_attribution() -> None:
    settings = build_settings({"map-tiles": URL, "map-attribution": " © OpenStreetMap "})
    assert settings.map_tiles == MapTiles(URL, "© OpenStreetMap")
    assert settings.map_tiles.origin == "https://tile.example.org:8443"


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"map-tiles": "ftp://tile.example.org/{z}/{x}/{y}.png"}, "http:// or https://"),
        ({"map-tiles": "https://user@tile.example.org/{z}/{x}/{y}.png"}, "plain host"),
        ({"map-tiles": "https://tile.example.org/{z}/{x}.png"}, "each of {z}, {x} and {y}"),
        ({"map-tiles": "https://tile.example.org/{z}/{x}/{y}{r}.png"}, "no other {...}"),
        ({"map-attribution": "© somebody"}, "needs --map-tiles"),
    ],
)
def test_a_tile_url_the_page_could_not_use_is_refused(values: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingError) as info:
        build_settings(values)
    assert fragment in str(info.value)


async def policy_and_page(map_tiles: MapTiles | None) -> tuple[str, str]:
    health = Health(redis_ok=True, index_loaded=False)
    live = LiveCity(cast(Any, None))
    async with TestClient(
        TestServer(create_app(live, health, CollectorRegistry(), map_tiles=map_tiles))
    ) as client:
        resp = await client.get("/")
        return resp.headers["Content-Security-Policy"], await resp.text()


async def test_the_page_gets_the_url_and_the_policy_lets_in_that_origin_only() -> None:
    policy, page = await policy_and_page(MapTiles(URL, 'Tiles "<b>&"'))
    assert "img-src 'self' data: https://tile.example.org:8443;" in policy
    assert f'data-tiles="{URL}" data-attribution="Tiles &quot;&lt;b&gt;&amp;&quot;"' in page
    policy, page = await policy_and_page(None)
    assert "img-src 'self' data:;" in policy
    assert 'data-tiles="" data-attribution=""' in page
