"""GET /v1/stream: Server-Sent Events with each lot's counts whenever they change.

A stream follows a box or a list of lots. It opens with a snapshot of every lot in it (or, when the
client resumes with Last-Event-ID from this same process, only the lots that changed since), then
sends an `availability` event per lot whose counts moved, at most one batch per MIN_INTERVAL_S so
a busy lot is coalesced to its latest counts. Nothing queues per client but the socket buffer: a
client that lets it grow past the limit, or does not take a write within the timeout, is cut off
and resumes by reconnecting (browsers' EventSource does so by itself, sending Last-Event-ID).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from parking_hub.api import params
from parking_hub.api.access import client_of
from parking_hub.api.app_state import current_state, live_key
from parking_hub.api.errors import ApiError, invalid
from parking_hub.api.lots import lot_counts
from parking_hub.api.schemas import MAX_STREAM_LOTS, StreamParams
from parking_hub.arrays import IntArray
from parking_hub.query.area import lots_in_box
from parking_hub.query.availability import Availability

log = logging.getLogger(__name__)

RETRY_MS = 2000  # EventSource's reconnection delay
# The version half of a Last-Event-ID: ASCII digits only (str.isdigit takes "³", which int refuses),
# and short enough for int() to take (it refuses past 4,300 digits).
_VERSION = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class StreamLimits:
    max_streams: int = 1000  # concurrent streams per process
    max_streams_per_client: int = 100  # of those, held by one API key (or one address without keys)
    keepalive_s: float = 15.0  # a comment line this often keeps proxies from closing an idle stream
    min_interval_s: float = 0.25  # changes within this window go out as one batch
    write_timeout_s: float = 10.0
    max_buffer_bytes: int = 256 * 1024  # unsent bytes a client may leave in the socket buffer


@dataclass(slots=True)
class Streams:
    limits: StreamLimits = field(default_factory=StreamLimits)
    tasks: set[asyncio.Task[object]] = field(default_factory=set)
    per_client: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def slot(self, client: str) -> Iterator[None]:
        """Holds one of the process's stream slots and one of the client's while the stream runs."""
        if len(self.tasks) >= self.limits.max_streams:
            raise _too_many("this server is at its stream limit; retry later")
        if self.per_client[client] >= self.limits.max_streams_per_client:
            limit = self.limits.max_streams_per_client
            raise _too_many(f"this client has {limit} streams open, the most it may; close one first")
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.per_client[client] += 1
        try:
            yield
        finally:
            self.tasks.discard(task)
            self.per_client[client] -= 1
            if not self.per_client[client]:
                del self.per_client[client]


streams_key = web.AppKey("streams", Streams)


def _too_many(message: str) -> ApiError:
    return ApiError(429, "too_many_streams", message, headers={"Retry-After": "5"})


class _CutOff(Exception):
    """The client stopped taking data fast enough."""


def _positions(state: Availability, p: StreamParams) -> IntArray:
    if (p.box is None) == (p.lots is None):
        raise invalid("bbox", "give either bbox or lots")
    if p.box is not None:
        found = lots_in_box(state.index, p.box)
        if len(found) > MAX_STREAM_LOTS:
            raise invalid(
                "bbox", f"the box holds {len(found)} lots; a stream takes at most {MAX_STREAM_LOTS}"
            )
        return found
    ids = p.lot_ids
    if len(ids) > MAX_STREAM_LOTS:
        raise invalid("lots", f"lots names {len(ids)} lots; a stream takes at most {MAX_STREAM_LOTS}")
    missing = [lot_id for lot_id in ids if lot_id not in state.index.layout.position]
    if missing:
        raise ApiError(404, "not_found", f"no lot {missing[0]!r} in the registry", "lots")
    return state.index.positions_of(ids)


def _resume_from(state: Availability, last_event_id: str | None) -> int:
    """The version a resuming client has seen, or -1 when it needs a full snapshot."""
    epoch, _, version = (last_event_id or "").partition(":")
    if epoch != state.epoch or not _VERSION.fullmatch(version) or int(version) > state.version:
        return -1
    return int(version)


def _events(state: Availability, positions: IntArray) -> bytes:
    event_id = f"{state.epoch}:{state.version}"
    return b"".join(
        b"id: %s\nevent: availability\ndata: %s\n\n" % (event_id.encode(), orjson.dumps(row))
        for row in lot_counts(state, positions)
    )


class _Writer:
    def __init__(self, request: web.Request, response: web.StreamResponse, limits: StreamLimits) -> None:
        self._request, self._response, self._limits = request, response, limits

    async def send(self, data: bytes) -> None:
        transport = self._request.transport
        if transport is None or transport.get_write_buffer_size() > self._limits.max_buffer_bytes:
            raise _CutOff
        try:
            async with asyncio.timeout(self._limits.write_timeout_s):
                await self._response.write(data)
        except TimeoutError:
            raise _CutOff from None


async def stream(request: web.Request) -> web.StreamResponse:
    p = params.parse(StreamParams, request.query)
    live = request.app[live_key]
    state = current_state(request)
    positions = _positions(state, p)
    seen = _resume_from(state, request.headers.get("Last-Event-ID"))
    streams = request.app[streams_key]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    with streams.slot(client_of(request)):
        writer = _Writer(request, response, streams.limits)
        try:
            await response.prepare(request)
            await writer.send(b"retry: %d\n\n" % RETRY_MS)
            while True:
                if live.state is not state and live.state is not None:
                    # The registry was reloaded: the lots may have moved; start over with a snapshot.
                    state, seen = live.state, -1
                    positions = _positions(state, p)
                moved = positions[state.changed_in[positions] > seen] if seen >= 0 else positions
                seen = state.version
                if len(moved):
                    await writer.send(_events(state, moved))
                    await asyncio.sleep(streams.limits.min_interval_s)
                elif not await live.changes.wait(streams.limits.keepalive_s):
                    await writer.send(b": keep-alive\n\n")
        except _CutOff:
            log.info("stream client %s cut off: it fell behind", request.remote)
            if request.transport is not None:
                request.transport.abort()
        except ConnectionResetError:
            pass  # the client went away
        except ApiError as exc:
            log.info("stream ended: %s", exc.message)  # its lots left the registry; a reconnect says why
    return response


async def close_streams(app: web.Application) -> None:
    """On shutdown: streams never end by themselves, so end them rather than wait for them."""
    for task in list(app[streams_key].tasks):
        task.cancel()
