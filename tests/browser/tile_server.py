"""A street map tile server on a free local port: every tile the same generated PNG, every request kept."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from parking_hub.embedded import free_port

SIZE = 256
LAND = (242, 239, 233)  # the colours of a common street map
ROAD = (255, 255, 255)
KERB = (214, 208, 196)
_ON_TOP = {LAND: 0, KERB: 1, ROAD: 2}  # where a road crosses a kerb, the road shows


def _png(width: int, height: int, pixel: list[list[tuple[int, int, int]]]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(c for rgb in row for c in rgb) for row in pixel)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _colour(offset: int) -> tuple[int, int, int]:
    """Roads every 64 pixels, a kerb on each side, so they run on from one tile into the next."""
    from_road = min(offset % 64, 64 - offset % 64)
    return ROAD if from_road < 3 else KERB if from_road < 4 else LAND


def street_tile() -> bytes:
    across = [_colour(x) for x in range(SIZE)]
    rows = [[max(across[x], _colour(y), key=_ON_TOP.__getitem__) for x in range(SIZE)] for y in range(SIZE)]
    return _png(SIZE, SIZE, rows)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile holding a point, in Web Mercator."""
    n = 2**z
    phi = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(phi)) / math.pi) / 2 * n)


@dataclass
class TileServer:
    url: str  # the XYZ template, for --map-tiles
    origin: str
    served: list[tuple[int, int, int]] = field(default_factory=list)  # (z, x, y), in order


@asynccontextmanager
async def tile_server() -> AsyncIterator[TileServer]:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    server = TileServer(origin + "/{z}/{x}/{y}.png", origin)
    body = street_tile()

    async def tile(request: web.Request) -> web.Response:
        z, x, y = (int(request.match_info[k]) for k in "zxy")
        server.served.append((z, x, y))
        return web.Response(body=body, content_type="image/png")

    app = web.Application()
    app.router.add_get(r"/{z:\d+}/{x:\d+}/{y:\d+}.png", tile)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield server
    finally:
        await runner.cleanup()
