"""The baseline: the least an aiohttp JSON handler can do, served like the hub (one asyncio process).

python -m benchmarks.trivial_server PORT [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio

import orjson
from aiohttp import web

BODY = orjson.dumps({"ok": True})


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/", hello)
    loop = None
    if args.uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, loop=loop)


if __name__ == "__main__":
    main()
