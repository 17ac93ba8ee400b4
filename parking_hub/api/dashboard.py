"""GET / and /static/{name}: the live dashboard, plain files shipped in the package.

The page is a client of the public API like any other (/v1/lots, /v1/stream, /v1/summary and
/v1/lots/{id}/berths), and nothing on it comes from another host, so it works offline.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from parking_hub.api import params
from parking_hub.api.errors import ApiError
from parking_hub.api.schemas import StaticPath

CONTENT_TYPES = {"html": "text/html", "js": "text/javascript", "css": "text/css", "json": "application/json"}
# Revalidated on every load (a 304 while unchanged), so an upgraded hub never serves a stale page.
CACHE = "no-cache"
# The page runs only its own files and talks only to its own origin; the icon is an empty data: URL.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@functools.cache
def assets() -> dict[str, Asset]:
    found = {}
    for entry in (resources.files("parking_hub.api") / "static").iterdir():
        kind = entry.name.rpartition(".")[2]
        if entry.is_file() and kind in CONTENT_TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
            found[entry.name] = Asset(body, CONTENT_TYPES[kind], etag)
    return found


def _serve(request: web.Request, asset: Asset) -> web.Response:
    headers = {"ETag": asset.etag, "Cache-Control": CACHE, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    response = web.Response(
        body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers
    )
    response.enable_compression()
    return response


async def dashboard(request: web.Request) -> web.Response:
    return _serve(request, assets()["index.html"])


async def static_file(request: web.Request) -> web.Response:
    name = params.parse(StaticPath, request.match_info).name
    asset = assets().get(name)
    if asset is None:
        raise ApiError(404, "not_found", f"no file {name!r} in the dashboard", "name")
    return _serve(request, asset)
