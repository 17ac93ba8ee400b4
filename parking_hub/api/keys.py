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
    state = request.app[live_key].state
    if state is None:
        raise ApiError(503, "unavailable", "the lot index is not loaded yet; retry in a few seconds")
    return state
