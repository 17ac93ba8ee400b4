"""Typed application state (aiohttp AppKeys), kept apart to avoid import cycles."""

from __future__ import annotations

from aiohttp import web

from parking_hub.observe import Health
from parking_hub.query.live import LiveCity

live_key = web.AppKey("live", LiveCity)
health_key = web.AppKey("health", Health)
