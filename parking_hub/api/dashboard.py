"""GET / and /static/{name}: the live dashboard, plain files shipped in the package.

The page is a client of the public API like any other (/v1/lots, /v1/stream, /v1/summary and
/v1/lots/{id}/berths), and nothing on it comes from another host, so it works offline; the one
exception is the street map's tiles, when the operator names a tile server.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from html import escape
from importlib import resources

from aiohttp import web

from parking_hub.api import params
from parking_hub.api.errors import ApiError
from parking_hub.api.schemas import StaticPath
from parking_hub.map_tiles import MapTiles

CONTENT_TYPES = {"html": "text/html", "js": "text/javascript", "css": "text/css", "json": "application/json"}
# Revalidated on every load (a 304 while unchanged), so an upgraded hub never serves a stale page.
CACHE = "no-cache"
# The page runs only its own files and talks only to its own origin; the icon is an empty data: URL.
# Images may also come from the street map's tile server, when one is set.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# index.html's empty attributes that carry the street map's settings to the page.
TILES_ATTRIBUTES = 'data-tiles="" data-attribution=""'


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str

    @classmethod
    def of(cls, name: str, body: bytes) -> Asset:
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        return cls(body, CONTENT_TYPES[name.rpartition(".")[2]], etag)


@functools.cache
def assets() -> dict[str, Asset]:
    found = {}
    for entry in (resources.files("parking_hub.api") / "static").iterdir():
        if entry.is_file() and entry.name.rpartition(".")[2] in CONTENT_TYPES:
            found[entry.name] = Asset.of(entry.name, entry.read_bytes())
    return found


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The page as this hub serves it: with its street map, if any, and the policy that lets it load."""

    page: Asset
    policy: str

    @classmethod
    def of(cls, tiles: MapTiles | None) -> Dashboard:
        page = assets()["index.html"]
        if tiles is None:
            return cls(page, CONTENT_SECURITY_POLICY.format(tiles=""))
        filled = f'data-tiles="{escape(tiles.url)}" data-attribution="{escape(tiles.attribution)}"'
        body = page.body.decode().replace(TILES_ATTRIBUTES, filled).encode()
        return cls(Asset.of("index.html", body), CONTENT_SECURITY_POLICY.format(tiles=" " + tiles.origin))


dashboard_key = web.AppKey("dashboard", Dashboard)


def _serve(request: web.Request, asset: Asset) -> web.Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": CACHE,
        "Content-Security-Policy": request.app[dashboard_key].policy,
    }
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    response = web.Response(
        body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers
    )
    response.enable_compression()
    return response


async def dashboard(request: web.Request) -> web.Response:
    return _serve(request, request.app[dashboard_key].page)


async def static_file(request: web.Request) -> web.Response:
    name = params.parse(StaticPath, request.match_info).name
    asset = assets().get(name)
    if asset is None:
        raise ApiError(404, "not_found", f"no file {name!r} in the dashboard", "name")
    return _serve(request, asset)
