"""One hub process: the roles it runs, wired together, started and stopped in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web

from parking_hub.api.access import Access
from parking_hub.api.app import create_app
from parking_hub.api.listener import listening
from parking_hub.backoff import retry
from parking_hub.config import Role, Settings
from parking_hub.ingest.consumer import IngestDeps, IngestService
from parking_hub.ingest.lag_report import report_lag
from parking_hub.observe import Health, Metrics
from parking_hub.query.live import LiveCity
from parking_hub.registry import Lot, read_registries
from parking_hub.registry_view import RegistryView
from parking_hub.store import durability
from parking_hub.store.apply import StateWriter
from parking_hub.store.connection import REDIS_ERRORS, RedisClient, connect
from parking_hub.store.lots import save_lots

log = logging.getLogger(__name__)

HTTP_DRAIN_TIMEOUT_S = 10.0  # open requests and streams get this long to finish when the hub stops


async def until_answered(step: Callable[[], Awaitable[None]], doing: str) -> None:
    """Start-up steps wait for Redis instead of failing: each is idempotent."""

    def failed(exc: Exception, delay: float) -> None:
        log.warning("cannot %s yet (%s); retrying in %.1f s", doing, exc, delay)

    await retry(step, REDIS_ERRORS, failed)


async def load_until_saved(redis: RedisClient, files: Sequence[tuple[Path, Sequence[Lot]]]) -> None:
    async def save() -> None:
        for path, lots in files:
            await save_lots(redis, lots, str(path))

    await until_answered(save, "load lots into redis")


async def serve(settings: Settings, started: asyncio.Event | None = None) -> None:
    """Run until cancelled. Registry files named in the settings are validated before anything starts."""
    files = read_registries(settings.lots)
    ingest = settings.role in (Role.ALL, Role.INGEST)
    api = settings.role in (Role.ALL, Role.API)
    health = Health(
        redis_ok=False,
        mqtt_connected=False if ingest else None,
        index_loaded=False,
    )
    metrics = Metrics(health)
    async with connect(settings.redis) as redis:
        registry = RegistryView(redis, health)
        city = LiveCity(redis, settings.timezone) if api else None
        if city is not None:
            metrics.forecasts(city.forecasts_ready)
        consumer = None
        if ingest:
            writer = StateWriter(redis, settings.ack_after)
            consumer = IngestService(IngestDeps(settings, writer, registry, health, metrics))
        app = create_app(
            city,
            health,
            metrics.registry,
            cors_origins=settings.cors_origins,
            access=Access.of(settings.api_keys, settings.rate_limit),
            map_tiles=settings.map_tiles,
        )
        runner = web.AppRunner(app, shutdown_timeout=HTTP_DRAIN_TIMEOUT_S)
        await runner.setup()
        try:
            reuse_port = settings.workers > 1
            async with listening(runner, settings.http_host, settings.http_port, reuse_port=reuse_port):
                log.info(
                    "serving role %s on http://%s:%d",
                    settings.role.value,
                    settings.http_host,
                    settings.http_port,
                )
                if files:
                    await load_until_saved(redis, files)
                if ingest:
                    # A server that cannot confirm the acknowledgement asked for stops the start.
                    await until_answered(
                        lambda: durability.check_server(redis, settings.ack_after), "ask redis about WAITAOF"
                    )
                async with asyncio.TaskGroup() as tg:
                    followers = () if consumer is None else (consumer,)
                    tg.create_task(registry.follow(*followers, mirror=city), name="registry")
                    if consumer is not None:
                        tg.create_task(consumer.run(), name="ingest")
                        tg.create_task(
                            report_lag(redis, settings.client_id, health.ingest_lag_s),
                            name="ingest.lag_report",
                        )
                    if started is not None:
                        started.set()
        finally:
            await runner.cleanup()
            log.info("stopped")
