"""Typed application state (aiohttp AppKeys), kept apart to avoid import cycles."""

from __future__ import annotations

from aiohttp import web

from parking_hub.api.errors import ApiError
from parking_hub.observe import Health
from parking_hub.query.availability import Availability
from parking_hub.query.live import LiveCity

live_key = web.AppKey("live", LiveCity)
health_key = web.AppKey("health", Health)


def current_state(request: web.Request) -> Availability:
    live = request.app[live_key]
    if live.state is None:
        raise ApiError(503, "unavailable", "the lot index is not loaded yet; retry in a few seconds")
    if not live.in_sync:
        raise ApiError(
            503,
            "unavailable",
            "redis is not reachable, so availability cannot be confirmed; retry in a few seconds",
        )
    return live.state
