"""JSON answers: orjson bodies, ISO timestamps, and the caching headers that suit each answer."""

from __future__ import annotations

import functools
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

COMPRESS_ABOVE_BYTES = 1400  # about one TCP segment: smaller bodies gain nothing from gzip
# Answers change as often as sensors report; a second of caching matches the freshness bound.
LIVE_CACHE = "public, max-age=1"


def iso(ms: int) -> str | None:
    if ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=1)
def _iso_second(second: int) -> str:
    """The second as iso() starts it, up to the decimal point; formatted once a second."""
    return (iso(second * 1000) or "")[:-4]


def now_iso() -> str:
    """The current time as iso() writes it."""
    ms = time.time_ns() // 1_000_000
    return f"{_iso_second(ms // 1000)}{ms % 1000:03d}Z"


def json_response(
    request: web.Request, body: Any, *, status: int = 200, cache: str | None = None, etag: bool = False
) -> web.Response:
    """etag=True for answers that repeat byte for byte while nothing changes: a client that sends the
    ETag back gets 304 Not Modified without the body."""
    return encoded_json_response(request, orjson.dumps(body), status=status, cache=cache, etag=etag)


def encoded_json_response(
    request: web.Request,
    data: bytes,
    *,
    status: int = 200,
    cache: str | None = None,
    etag: bool = False,
    content_type: str = "application/json",
) -> web.Response:
    """An encoded body (JSON unless content_type says otherwise) with json_response's headers."""
    response = web.Response(status=status, body=data, content_type=content_type)
    if cache is not None:
        response.headers["Cache-Control"] = cache
    if etag:
        tag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
        response.headers["ETag"] = tag
        if tag in request.headers.get("If-None-Match", ""):
            kept = {k: v for k, v in response.headers.items() if k in ("ETag", "Cache-Control")}
            return web.Response(status=304, headers=kept)
    if len(data) > COMPRESS_ABOVE_BYTES:
        response.enable_compression()
    return response
